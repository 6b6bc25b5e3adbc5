/// One step's exchange between the ranks of a data-parallel run: every worker's record (its
/// loss, correct count and stop wish, then its gradient) ends up on every rank, in worker
/// order. Summing the gradients in that order on every rank is what makes R processes × T
/// threads give the weights one process with R × T threads gives, bit for bit.
///
/// The workers compute their gradients straight into their records, and the all-gather runs
/// in place, so nothing is copied but what crosses between processes. It is an all-gather
/// rather than an all-reduce: MPI's reductions may add in any order, and float addition is not
/// associative. For two ranks it moves the same bytes per rank as a ring all-reduce (one
/// gradient in, one out); past that, (R − 1) gradients in against a ring's 2(R − 1)/R.
final class GradientExchange {
  private let group: any ProcessGroup
  private let allWorkers: Int
  /// A record: a 16-float header (loss, correct, stop), then a gradient rounded up to 16
  /// floats, so that every gradient starts on a 64-byte boundary.
  private let recordFloats: Int
  private let records: UnsafeMutableBufferPointer<Float>
  private static let headerFloats = 16

  init(group: any ProcessGroup, allWorkers: Int, gradientFloats: Int) {
    self.group = group
    self.allWorkers = allWorkers
    recordFloats = Self.headerFloats + ArenaPlanner.roundUp(gradientFloats, to: 16)
    let raw = UnsafeMutableRawBufferPointer.allocate(
      byteCount: allWorkers * recordFloats * 4, alignment: 64)
    records = raw.initializeMemory(as: Float.self, repeating: 0)
  }

  deinit { records.deallocate() }

  private func record(_ worker: Int) -> UnsafeMutablePointer<Float> {
    records.baseAddress! + worker * recordFloats
  }

  /// Where worker `worker` of the run (counted across all ranks) computes its gradient.
  func gradientStorage(worker: Int) -> UnsafeMutablePointer<Float> {
    record(worker) + Self.headerFloats
  }

  /// Every worker's result and gradient (valid until the next run), and whether any rank asked
  /// to stop; `firstWorker` is this rank's first worker, `results` its workers' results.
  func run(firstWorker: Int, results: [(loss: Float, correct: Int)], stop: Bool)
    throws(ProcessGroupError)
    -> (results: [(loss: Float, correct: Int)], gradients: [UnsafePointer<Float>], stop: Bool)
  {
    for (index, result) in results.enumerated() {
      let header = record(firstWorker + index)
      header[0] = result.loss
      UnsafeMutableRawPointer(header + 1).storeBytes(
        of: Int32(truncatingIfNeeded: result.correct), as: Int32.self)
      header[2] = stop ? 1 : 0
    }
    try group.allGather(UnsafeMutableRawBufferPointer(records))
    var gathered: [(loss: Float, correct: Int)] = []
    var gradients: [UnsafePointer<Float>] = []
    var anyStop = false
    for worker in 0..<allWorkers {
      let header = UnsafePointer(record(worker))
      let correct = UnsafeRawPointer(header + 1).load(as: Int32.self)
      gathered.append((header[0], Int(correct)))
      anyStop = anyStop || header[2] != 0
      gradients.append(header + Self.headerFloats)
    }
    return (gathered, gradients, anyStop)
  }
}
