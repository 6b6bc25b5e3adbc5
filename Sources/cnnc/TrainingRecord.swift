import CNNC
import Foundation

/// `--log FILE` and `--plot FILE`: a CSV line per step (step, epoch, loss, the epoch's running
/// accuracy, learning rate, images/s) and the SVG curves, rewritten after every epoch and at the
/// end so that they can be watched while a run goes on.
final class TrainingRecord {
  private let log: FileHandle?
  private let plotPath: String?
  private var curve: TrainingCurve
  private var pending = ""
  private var epochCorrect = 0
  private var epochSamples = 0
  private var lastStep = DispatchTime.now().uptimeNanoseconds

  /// Checks both paths and starts the log, before any training, so that a bad path costs
  /// nothing. A run resumed at step `resumedAt` continues the log it finds: the lines of steps
  /// after it (logged before a kill, but not in the saved state the run resumes from) are cut, so
  /// that no step appears twice.
  init(logPath: String?, plotPath: String?, title: String, resumedAt: Int?) throws(CheckpointError)
  {
    self.plotPath = plotPath
    curve = TrainingCurve(title: title)
    if let plotPath { try OutputPath.check(plotPath) }
    guard let logPath else {
      log = nil
      return
    }
    var kept = ""
    if let resumedAt, let text = try? String(contentsOfFile: logPath, encoding: .utf8) {
      // A kill in the middle of a write leaves a last line without its newline, whose step
      // number may be cut short ("1234" read as "12"): only whole lines count.
      let whole = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
      kept = whole.filter { line in
        guard line.split(separator: ",").count == 6 else { return false }
        guard let step = Int(line.prefix { $0 != "," }) else { return line.hasPrefix("step,") }
        return step <= resumedAt
      }.map { $0 + "\n" }.joined()
      try OutputFile.write(Array(kept.utf8), to: logPath)
    }
    log = try OutputFile.openInPlace(logPath, appending: resumedAt != nil)
    if kept.isEmpty { pending = "step,epoch,loss,running_accuracy,lr,images_per_second\n" }
  }

  func record(_ report: StepReport) {
    let now = DispatchTime.now().uptimeNanoseconds
    let seconds = Double(now &- lastStep) / 1e9
    lastStep = now
    if report.batchInEpoch == 0 { (epochCorrect, epochSamples) = (0, 0) }
    epochCorrect += report.correct
    epochSamples += report.samples
    curve.losses.append((report.step, Double(report.loss)))
    guard log != nil else { return }
    pending +=
      [
        String(report.step), String(report.epoch + 1), String(report.loss),
        String(format: "%.4f", Double(epochCorrect) / Double(max(epochSamples, 1))),
        String(format: "%g", report.learningRate),
        String(format: "%.1f", Double(report.samples) / max(seconds, 1e-9)),
      ].joined(separator: ",") + "\n"
    if pending.utf8.count > 65_536 { flush() }
  }

  func epochEnded(_ epoch: Int, accuracy: Double?) throws(CheckpointError) {
    if let accuracy { curve.accuracies.append((Double(epoch), accuracy)) }
    try finish()
  }

  /// Writes what is pending: the log's lines and the picture, with `accuracy` at `epochs`
  /// (epochs done, fractional when the run ended mid-epoch) when it is a new evaluation.
  func finish(accuracy: Double? = nil, epochs: Double = 0) throws(CheckpointError) {
    if let accuracy, curve.accuracies.last?.epoch != epochs {
      curve.accuracies.append((epochs, accuracy))
    }
    flush()
    if let plotPath { try curve.write(to: plotPath) }
  }

  private func flush() {
    guard let log, !pending.isEmpty else { return }
    log.write(Data(pending.utf8))
    pending = ""
  }
}
