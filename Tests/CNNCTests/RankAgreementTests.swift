import Foundation
import Testing

@testable import CNNC

/// The ranks' fingerprint in-process: two threads as two ranks of an in-memory `ProcessGroup`
/// (`scripts/mpi-check.sh` runs the same refusals under a real mpirun).
@Suite struct RankAgreementTests {
  /// Ranks as threads sharing one buffer; each collective is two barriers around the copies.
  final class ThreadGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private var shared: [UInt8] = []

    init(size: Int) { self.size = size }

    func barrier() {
      condition.lock()
      let mine = generation
      arrived += 1
      if arrived == size {
        arrived = 0
        generation += 1
        condition.broadcast()
      } else {
        while generation == mine { condition.wait() }
      }
      condition.unlock()
    }

    func rank(_ rank: Int) -> Rank { Rank(group: self, rank: rank) }

    final class Rank: ProcessGroup {
      let group: ThreadGroup
      let rank: Int
      var size: Int { group.size }

      init(group: ThreadGroup, rank: Int) {
        self.group = group
        self.rank = rank
      }

      func allGather(_ buffer: UnsafeMutableRawBufferPointer) throws(ProcessGroupError) {
        let part = buffer.count / size
        group.condition.lock()
        if group.shared.count != buffer.count {
          group.shared = [UInt8](repeating: 0, count: buffer.count)
        }
        group.shared.withUnsafeMutableBytes { shared in
          shared.baseAddress!.advanced(by: rank * part).copyMemory(
            from: buffer.baseAddress! + rank * part, byteCount: part)
        }
        group.condition.unlock()
        group.barrier()
        group.condition.lock()
        group.shared.withUnsafeBytes { buffer.copyMemory(from: $0) }
        group.condition.unlock()
        group.barrier()
      }

      func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws(ProcessGroupError) {
        fatalError("not used by the agreement")
      }
    }
  }

  static let spec = """
    input: [1, 4, 4]
    layers:
      - {type: conv, name: c, filters: 2, kernel: 3}
      - {type: dense, name: d, units: 3}
    """

  /// Runs the training agreement on two ranks with their own options and data; each rank's
  /// error message, or nil.
  static func agree(
    _ options: [TrainingOptions], _ data: [LabelledImages], spec: [String] = [spec, spec]
  ) throws -> [String?] {
    let group = ThreadGroup(size: 2)
    let networks = try spec.map { try InferredNetwork(yaml: $0) }
    // A slot per rank, each written by its own thread only; concurrentPerform's return orders
    // the writes before the reads. (A Mutex here: ThreadSanitizer does not see its futex as a
    // lock and reported both ranks' writes as a race when both failed at once.)
    let results = [ErrorSlot(), ErrorSlot()]
    DispatchQueue.concurrentPerform(iterations: 2) { rank in
      do {
        try RankAgreement.training(
          network: networks[rank], data: data[rank], options: options[rank]
        )
        .check(in: group.rank(rank))
      } catch {
        results[rank].message = "\(error)"
      }
    }
    return results.map(\.message)
  }

  /// One rank's error message.
  final class ErrorSlot: @unchecked Sendable {
    var message: String?
  }

  static func data(label: UInt8 = 1) -> LabelledImages {
    LabelledImages(
      images: [UInt8](repeating: 7, count: 3 * 16), labels: [0, label, 2], rows: 4, columns: 4)
  }

  static func options(batch: Int = 2) throws -> TrainingOptions {
    var train = try #require(
      try InferredNetwork(yaml: spec + "\ntrain: {data: {format: mnist, path: x}}").train)
    train.batch = batch
    return TrainingOptions(train)
  }

  @Test func ranksStartedAlikeAgreeAndOthersAreNamed() throws {
    let same = try Self.agree([Self.options(), Self.options()], [Self.data(), Self.data()])
    #expect(same == [nil, nil])

    let batch = try Self.agree(
      [Self.options(), Self.options(batch: 3)], [Self.data(), Self.data()])
    for message in batch {
      #expect(
        message?.hasPrefix(
          "the ranks were not started alike: rank 0 and rank 1 differ in the batch: "
            + "2 on rank 0, 3 on rank 1;") == true, "\(String(describing: message))")
    }

    let labels = try Self.agree(
      [Self.options(), Self.options()], [Self.data(), Self.data(label: 0)])
    #expect(
      labels.allSatisfy { $0?.contains("differ in the training labels") == true }, "\(labels)")

    let wider = Self.spec.replacingOccurrences(of: "filters: 2", with: "filters: 3")
    let network = try Self.agree(
      [Self.options(), Self.options()], [Self.data(), Self.data()], spec: [Self.spec, wider])
    #expect(
      network.allSatisfy { $0?.contains("differ in the spec's network") == true }, "\(network)")
  }
}
