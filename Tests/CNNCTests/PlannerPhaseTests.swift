import Testing

@testable import CNNC

/// Each phase of `Planner.run()` on one small network, with every number worked by hand.
///
/// Values: 0 input [2,4,4]; 1 r1; 2 s1; 3 sum (all [2,4,4], 256 bytes at batch 2); 4 p [2,2,2];
/// 5 f (a view of 4, [8,1,1]); 6 r2; 7 out (64 bytes each at batch 2).
@Suite struct PlannerPhaseTests {
  static let spec = """
    input: [2, 4, 4]
    layers:
      - {type: relu, name: r1}
      - {type: sigmoid, name: s1}
      - {type: add, name: sum, input: [r1, s1]}
      - {type: maxpool, name: p, kernel: 2, stride: 2}
      - {type: flatten, name: f}
      - {type: relu, name: r2}
      - {type: softmax, name: out}
    """

  static func lowering(_ mode: PlanMode) throws -> Lowering {
    let network = try InferredNetwork(yaml: spec)
    return try Lowering(network, PlanOptions(mode: mode, batch: 2, inputGradient: true))
  }

  @Test func valuesLookThroughTheView() throws {
    let values = try Self.lowering(.training).resolveValues()
    #expect(values.owner == [0, 1, 2, 3, 4, 4, 6, 7])
    #expect(values.inputs == [[0], [1], [1, 2], [3], [4], [4], [6]])
    #expect(values.isView == [false, false, false, false, true, false, false])
  }

  @Test func trainingScheduleFoldsTheSoftmax() throws {
    let lowering = try Self.lowering(.training)
    let schedule = lowering.scheduleSteps(lowering.resolveValues())
    // Five forward steps (no view, no folded softmax), the loss, five backward in reverse.
    #expect(schedule.forward == [0, 1, 2, 3, nil, 4, nil])
    #expect(schedule.loss == 5)
    #expect(schedule.backward == [10, 9, 8, 7, nil, 6, nil])
    #expect(schedule.count == 11)
    #expect(schedule.logits == 6)
  }

  @Test func inferenceScheduleRunsTheSoftmax() throws {
    let lowering = try Self.lowering(.inference)
    let schedule = lowering.scheduleSteps(lowering.resolveValues())
    #expect(schedule.forward == [0, 1, 2, 3, nil, 4, 5])
    #expect(schedule.loss == nil)
    #expect(schedule.backward == Array(repeating: nil, count: 7))
    #expect(schedule.count == 6)
    #expect(schedule.logits == 7)
  }

  @Test(arguments: [PlanMode.training, .inference])
  func onlyTheReLUAfterTheViewRunsInPlace(_ mode: PlanMode) throws {
    let lowering = try Self.lowering(mode)
    let values = lowering.resolveValues()
    let schedule = lowering.scheduleSteps(values)
    // r1 may not overwrite the caller's input; s1 may not overwrite r1, which sum reads after
    // it; r2 overwrites p, read last by r2 itself (through the view f).
    if mode == .training {
      // r1 and s1 differentiate from their outputs (steps 10 and 9); the loss reads r2's output
      // (its buffer is 4) at 5 and r2's backward at 6; the last step reads the final value.
      #expect(lowering.lastReads(values, schedule) == [0, 10, 9, 3, 4, -1, 6, 10])
    } else {
      #expect(lowering.lastReads(values, schedule) == [0, 2, 2, 3, 4, -1, 5, 5])
    }
    #expect(lowering.shareBuffers(values, schedule) == [0, 1, 2, 3, 4, 4, 4, 7])
  }

  /// The training plan, phase by phase from the buffers on.
  @Test func trainingBuffersStepsAndPlacement() throws {
    let lowering = try Self.lowering(.training)
    let values = lowering.resolveValues()
    let schedule = lowering.scheduleSteps(values)
    var buffers = try lowering.allocateBuffers(
      values, schedule, lowering.shareBuffers(values, schedule))
    #expect(buffers.activation == [0, 1, 2, 3, 4, 4, 4, 5])
    // Gradients for every owning value but the folded softmax's output.
    #expect(buffers.gradient == [6, 7, 8, 9, 10, nil, 11, nil])
    #expect(buffers.labels == 12)
    #expect(buffers.probabilities == 5)
    #expect(buffers.lossGradient == 11)

    var binding = try lowering.bindOperands(values, &buffers)
    let pool = try #require(binding.operands[3])
    #expect(pool.scratch == [13])
    #expect(binding.operands[4] == nil && binding.operands[6] == nil)
    #expect(
      buffers.builder.buffers.map(\.name) == [
        "input", "r1", "s1", "sum", "p", "out", "input gradient", "r1 gradient", "s1 gradient",
        "sum gradient", "p gradient", "r2 gradient", "labels", "p argmax",
      ])
    #expect(
      buffers.builder.buffers.map(\.bytes) == [
        256, 256, 256, 256, 64, 64, 256, 256, 256, 256, 64, 64, 64, 64,
      ])

    let steps = lowering.orderSteps(values, schedule, buffers, &binding)
    #expect(
      steps.map(\.kernel) == [
        "relu forward", "sigmoid forward", "add forward", "maxpool forward", "relu forward",
        "softmax cross-entropy", "relu backward", "maxpool backward", "add backward",
        "sigmoid backward", "relu backward",
      ])
    #expect(
      steps.map(\.reads) == [
        [0], [1], [1, 2], [3], [4], [4, 12], [11, 4], [10, 13], [9], [8, 2], [7, 1],
      ])
    #expect(
      steps.map(\.writes) == [
        [1], [2], [3], [4, 13], [4], [5, 11], [10], [9], [7, 8], [7], [6],
      ])
    // sum's backward writes r1's gradient first; s1's backward adds to it.
    #expect(binding.operands[2]?.accumulate == [false, false])
    #expect(binding.operands[1]?.accumulate == [true])

    let placement = lowering.placeBuffers(steps, &buffers)
    let placed = buffers.builder.buffers
    #expect(placed.map(\.firstStep) == [0, 0, 1, 2, 3, 5, 10, 8, 8, 7, 6, 5, 0, 3])
    #expect(placed.map(\.lastStep) == [10, 10, 9, 3, 6, 10, 10, 10, 9, 8, 7, 6, 10, 7])
    // Greedy by size: the 256-byte buffers stack in first-step order (sum's gradient takes
    // sum's place, dead after 3; the input's gradient takes 512, s1's, dead after 9); then the
    // 64-byte ones: labels on top at 1536, p and its argmax in the hole at 1024, the output
    // above the labels, r2's and p's gradients in the holes left at 768 and 1152.
    #expect(
      placed.map(\.offset) == [
        0, 256, 512, 768, 1024, 1600, 512, 1024, 1280, 768, 1152, 768, 1536, 1088,
      ])
    #expect(placement == .init(arenaBytes: 1664, naiveBytes: 2432, lowerBoundBytes: 1664))
  }
}
