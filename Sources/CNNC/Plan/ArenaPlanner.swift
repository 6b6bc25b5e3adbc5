/// A transient buffer as the offset assignment sees it: how big, and the steps it lives through.
public struct BufferRecord: Hashable, Sendable {
  public var bytes: Int
  public var firstStep: Int
  public var lastStep: Int

  public init(bytes: Int, firstStep: Int, lastStep: Int) {
    self.bytes = bytes
    self.firstStep = firstStep
    self.lastStep = lastStep
  }

  /// Bytes × steps alive; saturates rather than overflowing.
  var area: Int {
    let (product, overflow) = bytes.multipliedReportingOverflow(by: lastStep - firstStep + 1)
    return overflow ? Int.max : product
  }

  func livesAlongside(_ other: BufferRecord) -> Bool {
    firstStep <= other.lastStep && other.firstStep <= lastStep
  }
}

/// Offsets for buffers with known sizes and lifetimes in one arena, and the figures to judge
/// them by (the arena's size, and the most bytes alive at once, which no placement beats).
public enum ArenaPlanner {
  /// Places every buffer in one arena so that no two buffers alive at the same step overlap.
  ///
  /// Greedy by size, as TensorFlow Lite's arena planner does: take the buffers largest first
  /// (ties: earlier first step, then record order). For each, look at the buffers already placed
  /// whose lifetimes overlap its own, in address order, and put it in the smallest gap between
  /// them that holds it, or after the last of them when no gap does. Large buffers settle first
  /// and small ones fill the holes that lifetimes leave.
  ///
  /// One order is not best for every graph: a long-lived middle-sized buffer (a pooling argmax
  /// kept for backward) placed after a short-lived big one can strand a hole. So when greedy by
  /// size misses the lower bound, the same placement is retried with buffers ordered by
  /// size × lifetime, then in up to `retries` seeded shuffles (plans of at most 4,096 buffers),
  /// and the first smallest arena wins. The result depends only on the records. Offsets are
  /// multiples of `alignment`.
  public static func offsets(for records: [BufferRecord], alignment: Int = 64, retries: Int = 64)
    -> [Int]
  {
    let bySize = records.indices.sorted { a, b in
      let (x, y) = (records[a], records[b])
      if x.bytes != y.bytes { return x.bytes > y.bytes }
      if x.firstStep != y.firstStep { return x.firstStep < y.firstStep }
      return a < b
    }
    let bound = lowerBound(records)
    var best = place(records, in: bySize, alignment: alignment)
    var bestBytes = arenaBytes(records, offsets: best)
    func consider(_ order: [Int]) {
      let candidate = place(records, in: order, alignment: alignment)
      let bytes = arenaBytes(records, offsets: candidate)
      if bytes < bestBytes { (best, bestBytes) = (candidate, bytes) }
    }
    guard bestBytes > bound else { return best }
    consider(
      records.indices.sorted { a, b in
        let (x, y) = (records[a].area, records[b].area)
        return x != y ? x > y : a < b
      })
    var generator = SplitMix64(seed: 0x5EED)
    var attempt = 0
    while bestBytes > bound, attempt < retries, records.count <= 4_096 {
      consider(Array(records.indices).shuffled(using: &generator))
      attempt += 1
    }
    return best
  }

  /// Best-fit placement of `records` taken in `order`.
  static func place(_ records: [BufferRecord], in order: [Int], alignment: Int) -> [Int] {
    var offsets = [Int](repeating: 0, count: records.count)
    // Placed buffers in address order (ties: in the order placed), so that each new buffer
    // scans them once without sorting: a 10,000-layer training plan has ~40,000 buffers.
    var placed: [Placed] = []
    placed.reserveCapacity(records.count)
    for index in order {
      let record = records[index]
      var best: (offset: Int, gap: Int)?
      var cursor = 0
      for other in placed
      where other.firstStep <= record.lastStep && record.firstStep <= other.lastStep {
        let gap = other.offset - cursor
        if gap >= record.bytes, gap < (best?.gap ?? Int.max) {
          best = (cursor, gap)
        }
        cursor = max(cursor, other.alignedEnd)
      }
      let offset = best?.offset ?? cursor
      offsets[index] = offset
      placed.insert(
        Placed(
          offset: offset, alignedEnd: roundUp(offset + record.bytes, to: alignment),
          firstStep: record.firstStep, lastStep: record.lastStep),
        at: placed.firstIndex(after: offset))
    }
    return offsets
  }

  /// A buffer already given its offset, as `place` scans it.
  struct Placed {
    var offset: Int
    var alignedEnd: Int
    var firstStep: Int
    var lastStep: Int
  }

  /// The arena size those offsets need.
  public static func arenaBytes(_ records: [BufferRecord], offsets: [Int]) -> Int {
    zip(records, offsets).map { $0.bytes + $1 }.max() ?? 0
  }

  /// The most bytes alive at any one step: no placement can use less.
  public static func lowerBound(_ records: [BufferRecord]) -> Int {
    let lastStep = records.map(\.lastStep).max() ?? -1
    guard lastStep >= 0 else { return 0 }
    var live = [Int](repeating: 0, count: lastStep + 2)
    for record in records {
      live[record.firstStep] += record.bytes
      live[record.lastStep + 1] -= record.bytes
    }
    var best = 0
    var running = 0
    for change in live {
      running += change
      best = max(best, running)
    }
    return best
  }

  static func roundUp(_ value: Int, to alignment: Int) -> Int {
    (value + alignment - 1) / alignment * alignment
  }
}

extension [ArenaPlanner.Placed] {
  /// The first position whose offset is greater than `offset` (binary search; self is sorted).
  fileprivate func firstIndex(after offset: Int) -> Int {
    var (low, high) = (0, count)
    while low < high {
      let middle = (low + high) / 2
      if self[middle].offset > offset { high = middle } else { low = middle + 1 }
    }
    return low
  }
}
