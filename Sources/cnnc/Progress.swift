import Foundation

/// Training progress on stderr: a live bar on a terminal, a plain line every few seconds
/// otherwise (logs, pipes, CI).
final class Progress {
  private let isTerminal = isatty(STDERR_FILENO) == 1
  private var lastPrint = Date.distantPast
  private var epochStart = Date()
  private var lossSum: Double = 0
  private var correct = 0
  private var samples = 0
  private var steps = 0
  /// A bar line has been drawn on the terminal and not ended yet.
  private var barOpen = false

  /// Mean loss over the epoch's steps so far.
  var epochLoss: Double { steps > 0 ? lossSum / Double(steps) : .nan }

  func startEpoch() {
    epochStart = Date()
    lossSum = 0
    correct = 0
    samples = 0
    steps = 0
  }

  func record(_ report: StepReportView) {
    lossSum += Double(report.loss)
    correct += report.correct
    samples += report.samples
    steps += 1
    let now = Date()
    let interval = isTerminal ? 0.1 : 5.0
    let isLast = report.batchInEpoch + 1 == report.batchesPerEpoch
    guard now.timeIntervalSince(lastPrint) >= interval || isLast else { return }
    lastPrint = now
    let elapsed = max(now.timeIntervalSince(epochStart), 1e-9)
    let rate = Double(samples) / elapsed
    let done = Double(report.batchInEpoch + 1) / Double(report.batchesPerEpoch)
    let left = elapsed / done - elapsed
    let figures = String(
      format: "loss %.4f  accuracy %.2f%%  %.0f images/s  %@ left", epochLoss,
      100 * Double(correct) / Double(max(samples, 1)), rate, Self.clock(left))
    let label = "epoch \(report.epoch + 1)/\(report.epochs)"
    if isTerminal {
      let width = 30
      let filled = Int(done * Double(width))
      let bar =
        String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
      FileHandle.standardError.write(
        Data("\r\u{1B}[2K\(label) \(bar) \(Int(done * 100))%  \(figures)".utf8))
      barOpen = !isLast
      if isLast { FileHandle.standardError.write(Data("\n".utf8)) }
    } else {
      printError("\(label) step \(report.batchInEpoch + 1)/\(report.batchesPerEpoch)  \(figures)")
    }
  }

  /// Ends a bar left open by a run that stopped mid-epoch.
  func finish() {
    if barOpen { FileHandle.standardError.write(Data("\n".utf8)) }
    barOpen = false
  }

  static func clock(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let whole = Int(seconds.rounded())
    return String(format: "%d:%02d", whole / 60, whole % 60)
  }
}

/// What the progress display needs of a step.
struct StepReportView {
  var epoch: Int
  var epochs: Int
  var batchInEpoch: Int
  var batchesPerEpoch: Int
  var loss: Float
  var correct: Int
  var samples: Int
}
