import CNNCKernels

/// Helper threads that split one image's convolution and dense layers with the calling thread
/// (inference at batch 1). They spin briefly between calls, since waking a sleeping thread
/// costs as much as a small layer.
final class KernelTeam: @unchecked Sendable {
  fileprivate let team: OpaquePointer

  /// Nil when `threads` < 2 or the helpers cannot be started (the work then runs inline).
  init?(threads: Int) {
    guard let team = cnnc_team_create(threads) else { return nil }
    self.team = team
  }

  deinit { cnnc_team_destroy(team) }
}

/// One kernel's work split into parts, made once when the kernel is bound, so that running it
/// on a team allocates nothing.
final class TeamTask {
  let body: (Int) -> Void

  init(_ body: @escaping (Int) -> Void) { self.body = body }

  /// Runs every part in 0..<parts, on the team's threads and the caller's.
  func run(on team: KernelTeam?, parts: Int) {
    guard let team else {
      for part in 0..<parts { body(part) }
      return
    }
    cnnc_team_run(
      team.team,
      { context, part in
        guard let context else { return }
        Unmanaged<TeamTask>.fromOpaque(context).takeUnretainedValue().body(part)
      }, Unmanaged.passUnretained(self).toOpaque(), parts)
  }
}
