import Testing

@testable import CNNC

/// The thread team behind batch-1 inference, called back to back as a plan calls it: every
/// part of every call must run exactly once and be finished when the call returns. Calls of
/// different sizes follow each other with no gap, so a helper that has just finished the last
/// part of one call is still reading its ticket when the next call starts: the moment at which
/// it once claimed a part of the new call from the old ticket (run twice, counted twice, the
/// caller returning before a part was done).
@Suite struct KernelTeamTests {
  /// One helper, and two racing each other for the parts.
  @Test(arguments: [2, 3])
  func everyPartRunsOnceBeforeItsCallReturns(threads: Int) throws {
    let team = try #require(KernelTeam(threads: threads))
    let maximumParts = 9
    let counts = UnsafeMutablePointer<Int>.allocate(capacity: maximumParts)
    counts.initialize(repeating: 0, count: maximumParts)
    defer { counts.deallocate() }
    let task = TeamTask { part in counts[part] += 1 }
    var wrongCalls = 0
    for call in 0..<300_000 {
      let parts = 2 + call % (maximumParts - 1)
      task.run(on: team, parts: parts)
      for part in 0..<maximumParts {
        if counts[part] != (part < parts ? 1 : 0) { wrongCalls += 1 }
        counts[part] = 0
      }
    }
    #expect(wrongCalls == 0)
  }
}
