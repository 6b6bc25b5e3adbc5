import Foundation
import Synchronization

/// `--step-timeout`: ends the process when no step has finished for `seconds`. mpirun notices a
/// process that dies and stops the rest; a process that hangs (stopped, stuck on a file system,
/// cut off by the network) would instead leave every other rank waiting in the gradient
/// exchange forever. Exiting makes mpirun stop the job; the last save stays as it was. `stop()`
/// ends its thread once the run is over (a command run in-process must not be ended later).
final class Watchdog: Sendable {
  private let lastProgress: Atomic<UInt64>
  private let stopped = Atomic(false)

  init(seconds: Double) {
    lastProgress = Atomic(Self.now())
    let limit = UInt64(seconds * 1e9)
    let thread = Thread { [self] in
      while true {
        Thread.sleep(forTimeInterval: min(0.5, seconds / 4))
        if stopped.load(ordering: .relaxed) { return }
        let waited = Self.now() &- lastProgress.load(ordering: .relaxed)
        if waited > limit {
          printError(
            "\(ErrorLabel.prefix)error: no training step finished in "
              + String(format: "%g", seconds) + " s (--step-timeout): another process of the "
              + "run may hang or be cut off; stopping (the last checkpoint save stands)")
          _exit(1)
        }
      }
    }
    thread.start()
  }

  /// A step (or an epoch's evaluation and save) finished.
  func touch() { lastProgress.store(Self.now(), ordering: .relaxed) }

  /// The run is over: the thread ends at its next wake-up, without checking the time.
  func stop() { stopped.store(true, ordering: .relaxed) }

  private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
