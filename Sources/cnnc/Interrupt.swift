import Foundation
import Synchronization

/// Set by SIGINT and SIGTERM; the training loop finishes its step, saves, and exits 130. An
/// atomic, so the optimiser cannot hoist the loop's read of it, and lock-free, so the signal
/// handler may set it.
private let stopRequested = Atomic<Bool>(false)

enum Interrupt {
  /// The handlers only set the flag: anything more is not safe inside a signal handler.
  static func install() {
    signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
    signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
    // A parent may have started us with these signals blocked (the mask is inherited).
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &signals, nil)
  }

  static var requested: Bool { stopRequested.load(ordering: .relaxed) }
}
