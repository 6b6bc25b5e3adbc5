/// One step's exchange between the ranks of a data-parallel run: each rank sends its workers'
/// losses, correct counts, stop wishes and gradients, and receives every worker's, in worker
/// order. Summing them in that order on every rank is what makes R processes × T threads give
/// the weights one process with R × T threads gives, bit for bit.
///
/// It is an all-gather rather than an all-reduce: MPI's reductions may add in any order, and
/// float addition is not associative. For two ranks it moves the same bytes per rank as a ring
/// all-reduce (one gradient in, one out); past that, (R − 1) gradients in against a ring's
/// 2(R − 1)/R (the README's projection counts both).
final class GradientExchange {
  private let group: any ProcessGroup
  private let localWorkers: Int
  private let allWorkers: Int
  private let gradientFloats: Int
  /// A worker's record: a 16-float header (loss, correct, stop), then its gradient.
  private let recordFloats: Int
  private let send: UnsafeMutableBufferPointer<Float>
  private let receive: UnsafeMutableBufferPointer<Float>
  private static let headerFloats = 16

  init(group: any ProcessGroup, localWorkers: Int, allWorkers: Int, gradientFloats: Int) {
    self.group = group
    self.localWorkers = localWorkers
    self.allWorkers = allWorkers
    self.gradientFloats = gradientFloats
    recordFloats = Self.headerFloats + gradientFloats
    send = .allocate(capacity: localWorkers * recordFloats)
    receive = .allocate(capacity: allWorkers * recordFloats)
    send.initialize(repeating: 0)
    receive.initialize(repeating: 0)
  }

  deinit {
    send.deallocate()
    receive.deallocate()
  }

  /// Every worker's result and gradient (pointers into the received records, valid until the
  /// next run), and whether any rank asked to stop.
  func run(workers: [Executor], results: [(loss: Float, correct: Int)], stop: Bool)
    throws(ProcessGroupError)
    -> (results: [(loss: Float, correct: Int)], gradients: [UnsafePointer<Float>], stop: Bool)
  {
    for (index, worker) in workers.enumerated() {
      let record = send.baseAddress! + index * recordFloats
      record[0] = results[index].loss
      UnsafeMutableRawPointer(record + 1).storeBytes(
        of: Int32(truncatingIfNeeded: results[index].correct), as: Int32.self)
      record[2] = stop ? 1 : 0
      (record + Self.headerFloats).update(from: worker.gradients.baseAddress!, count: gradientFloats)
    }
    try group.allGather(UnsafeRawBufferPointer(send), into: UnsafeMutableRawBufferPointer(receive))
    var gathered: [(loss: Float, correct: Int)] = []
    var gradients: [UnsafePointer<Float>] = []
    var anyStop = false
    for worker in 0..<allWorkers {
      let record = UnsafePointer(receive.baseAddress! + worker * recordFloats)
      let correct = UnsafeRawPointer(record + 1).load(as: Int32.self)
      gathered.append((record[0], Int(correct)))
      anyStop = anyStop || record[2] != 0
      gradients.append(record + Self.headerFloats)
    }
    return (gathered, gradients, anyStop)
  }
}
