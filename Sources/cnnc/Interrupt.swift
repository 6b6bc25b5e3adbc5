import CNNC
import Foundation

/// SIGINT and SIGTERM set `flag`; the training session finishes its step, saves, and the run
/// exits 130.
enum Interrupt {
  static let flag = StopFlag()

  /// The handlers only set the flag (one lock-free store): anything more is not safe inside a
  /// signal handler.
  static func install() {
    _ = flag  // made before a signal can arrive
    signal(SIGINT) { _ in Interrupt.flag.set() }
    signal(SIGTERM) { _ in Interrupt.flag.set() }
    // A parent may have started us with these signals blocked (the mask is inherited).
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &signals, nil)
  }
}
