import Foundation
import Testing

@testable import CNNC

@Suite struct ArenaPlannerTests {
  /// Hand-worked placements; sizes are multiples of 64 so alignment does not blur them.
  @Test func chainReusesTheFreedBuffer() {
    // a (0–1) and c (2–3) never meet: c goes where a was. b (1–2) sits above both.
    let records = [
      BufferRecord(bytes: 256, firstStep: 0, lastStep: 1),
      BufferRecord(bytes: 128, firstStep: 1, lastStep: 2),
      BufferRecord(bytes: 256, firstStep: 2, lastStep: 3),
    ]
    let offsets = ArenaPlanner.offsets(for: records)
    #expect(offsets == [0, 256, 0])
    #expect(ArenaPlanner.arenaBytes(records, offsets: offsets) == 384)
    #expect(ArenaPlanner.lowerBound(records) == 384)
  }

  @Test func bufferWithNoHoleBelowGoesOnTop() {
    // By size: big (0–2) at 0; mid (3–4) also at 0, since big is dead by then; wide (0–4)
    // above both at 512; small (1–1), alive with big and wide, finds no hole below and goes to
    // 768.
    let records = [
      BufferRecord(bytes: 512, firstStep: 0, lastStep: 2),  // big
      BufferRecord(bytes: 256, firstStep: 0, lastStep: 4),  // wide
      BufferRecord(bytes: 448, firstStep: 3, lastStep: 4),  // mid
      BufferRecord(bytes: 64, firstStep: 1, lastStep: 1),  // small
    ]
    let offsets = ArenaPlanner.offsets(for: records)
    #expect(offsets == [0, 512, 0, 768])
    #expect(ArenaPlanner.arenaBytes(records, offsets: offsets) == 832)
    #expect(ArenaPlanner.lowerBound(records) == 832)
  }

  @Test func twoLongLivedBuffersAndAShortOne() {
    // a and c (320, 0–3) stack at 0 and 320; b (192, 0–0) lives with both and goes on top at
    // 640; d (128, 2–2) lives with a and c but not b, so it reuses b's place.
    let records = [
      BufferRecord(bytes: 320, firstStep: 0, lastStep: 3),
      BufferRecord(bytes: 192, firstStep: 0, lastStep: 0),
      BufferRecord(bytes: 320, firstStep: 0, lastStep: 3),
      BufferRecord(bytes: 128, firstStep: 2, lastStep: 2),
    ]
    let offsets = ArenaPlanner.offsets(for: records)
    #expect(offsets == [0, 640, 320, 640])
    #expect(ArenaPlanner.lowerBound(records) == 832)
    #expect(ArenaPlanner.arenaBytes(records, offsets: offsets) == 832)
  }

  @Test func alignmentRoundsOffsetsUp() {
    let records = [
      BufferRecord(bytes: 10, firstStep: 0, lastStep: 0),
      BufferRecord(bytes: 10, firstStep: 0, lastStep: 0),
    ]
    #expect(ArenaPlanner.offsets(for: records, alignment: 64) == [0, 64])
  }

  /// Random lifetimes and sizes (some zero, some unaligned): buffers alive together never share
  /// a byte, offsets are aligned, and the arena is at least the lower bound.
  @Test(arguments: 1...5)
  func randomBuffersNeverOverlap(_ seed: UInt64) {
    var generator = SplitMix64(seed: seed)
    let records = (0..<1_500).map { _ in
      let first = Int.random(in: 0..<400, using: &generator)
      return BufferRecord(
        bytes: Int.random(in: 0...5_000, using: &generator), firstStep: first,
        lastStep: first + Int.random(in: 0..<60, using: &generator))
    }
    let offsets = ArenaPlanner.offsets(for: records)
    #expect(offsets.allSatisfy { $0 % 64 == 0 })
    #expect(ArenaPlanner.arenaBytes(records, offsets: offsets) >= ArenaPlanner.lowerBound(records))
    var overlaps = 0
    for a in records.indices {
      for b in records.indices where b > a && records[a].livesAlongside(records[b]) {
        if records[a].bytes > 0, records[b].bytes > 0,
          offsets[a] < offsets[b] + records[b].bytes && offsets[b] < offsets[a] + records[a].bytes
        {
          overlaps += 1
        }
      }
    }
    #expect(overlaps == 0)
  }

  @Test func sizeTimesLifetimeOrderWinsWhereSizeOrderStrandsAHole() {
    // By size: d (384, 1–1) at 0, c (320, 3–3) at 0, a (192, 1–4) above d at 384, and b
    // (128, 3–4) finds only 64 bytes between c and a: it goes to 576, arena 704.
    // By size × lifetime a goes first at 0; d and c sit on it at 192; b above c at 512: 640,
    // which is the lower bound.
    let records = [
      BufferRecord(bytes: 192, firstStep: 1, lastStep: 4),  // a
      BufferRecord(bytes: 128, firstStep: 3, lastStep: 4),  // b
      BufferRecord(bytes: 320, firstStep: 3, lastStep: 3),  // c
      BufferRecord(bytes: 384, firstStep: 1, lastStep: 1),  // d
    ]
    #expect(ArenaPlanner.place(records, in: [3, 2, 0, 1], alignment: 64) == [384, 576, 0, 0])
    let offsets = ArenaPlanner.offsets(for: records)
    #expect(offsets == [0, 512, 192, 192])
    #expect(ArenaPlanner.arenaBytes(records, offsets: offsets) == ArenaPlanner.lowerBound(records))
  }
}

@Suite struct PlannerTests {
  static let models = [
    "lenet.yaml", "allconv.yaml", "inception.yaml", "residual.yaml", "alexnet.yaml", "vgg16.yaml",
  ]

  static func network(_ name: String) throws -> InferredNetwork {
    let text = try String(contentsOfFile: modelPath(name), encoding: .utf8)
    return try InferredNetwork(yaml: text, name: name)
  }

  @Test(arguments: models, [PlanMode.inference, .training])
  func arenaBetweenLowerBoundAndNaive(_ model: String, _ mode: PlanMode) throws {
    for batch in [1, 64] {
      let plan = try Planner.plan(try Self.network(model), PlanOptions(mode: mode, batch: batch))
      #expect(plan.arenaBytes <= plan.naiveBytes)
      #expect(plan.arenaBytes >= plan.lowerBoundBytes)
      #expect(Double(plan.arenaBytes) <= 1.10 * Double(plan.lowerBoundBytes), "batch \(batch)")
    }
  }

  @Test(arguments: models, [PlanMode.inference, .training])
  func liveBuffersNeverOverlap(_ model: String, _ mode: PlanMode) throws {
    let plan = try Planner.plan(try Self.network(model), PlanOptions(mode: mode, batch: 8))
    for step in plan.steps.indices {
      let live = plan.buffers.filter { $0.firstStep <= step && step <= $0.lastStep }
        .sorted { $0.offset < $1.offset }
      for (a, b) in zip(live, live.dropFirst()) {
        #expect(a.offset + a.bytes <= b.offset, "\(a.name) and \(b.name) overlap at step \(step)")
      }
    }
    // And every operand a step touches is alive at that step.
    for (index, step) in plan.steps.enumerated() {
      for id in step.reads + step.writes {
        #expect(plan.buffers[id].firstStep <= index && index <= plan.buffers[id].lastStep)
      }
    }
  }

  @Test func lenetSteps() throws {
    let inference = try Planner.plan(
      try Self.network("lenet.yaml"), PlanOptions(mode: .inference, batch: 64))
    #expect(
      inference.steps.map(\.kernel) == [
        "conv forward by GEMM", "maxpool forward", "conv forward by Winograd", "maxpool forward",
        "dense forward", "relu forward", "dense forward", "softmax forward",
      ])
    // relu1 runs in place over fc1, which dies there.
    let relu = try #require(inference.steps.first { $0.kernel == "relu forward" })
    #expect(relu.reads == relu.writes)

    let training = try Planner.plan(
      try Self.network("lenet.yaml"), PlanOptions(mode: .training, batch: 64))
    // The softmax is folded into the loss: 7 forward, the loss, 7 backward.
    #expect(training.steps.count == 15)
    #expect(training.steps[7].kernel == "softmax cross-entropy")
    // conv1 (rows of 24 outputs) computes dW directly, and no dX (its input is the network's);
    // conv2 (8×8, no pad) dW by one GEMM over the batch, dX by GEMM image by image.
    #expect(training.steps.last?.kernel == "conv backward dW direct")
    #expect(training.steps[12].kernel == "conv backward dW batch GEMM, dX GEMM")
    // conv1's input needs no gradient, so its backward has no column-gradient scratch.
    #expect(!training.buffers.contains { $0.name == "conv1 column gradient" })
    // pool1's argmax lives from pool1's forward (step 1) to its backward (step 13).
    let argmax = try #require(training.buffers.first { $0.name == "pool1 argmax" })
    #expect((argmax.firstStep, argmax.lastStep) == (1, 13))
  }

  @Test func fanInGradientAccumulates() throws {
    let network = try InferredNetwork(
      yaml: """
        input: [2, 4, 4]
        layers:
          - {type: conv, name: a, filters: 2, kernel: 1}
          - {type: relu, name: r}
          - {type: add, name: sum, input: [a, r]}
          - {type: flatten}
          - {type: dense, units: 3}
        """)
    let plan = try Planner.plan(network, PlanOptions(mode: .training, batch: 2))
    // Backward runs sum, then r: sum writes a's gradient first, r adds to it.
    let sum = try #require(plan.operands[2])
    let relu = try #require(plan.operands[1])
    #expect(sum.inputGradients[0] == relu.inputGradients[0])
    #expect(sum.accumulate == [false, false])
    #expect(relu.accumulate == [true])
    // a feeds two layers, so relu may not overwrite it in place.
    #expect(relu.output != relu.inputs[0])
  }

  @Test func rejectsWhatCannotTrain() throws {
    // A branch that reaches nothing is the spec's error now (`check` and `run` alike).
    #expect(throws: SpecError.self) {
      try InferredNetwork(
        yaml: """
          input: [1, 4, 4]
          layers:
            - {type: conv, name: side, filters: 2, kernel: 1}
            - {type: dense, units: 3, input: input}
          """)
    }
    let spatial = try InferredNetwork(
      yaml: "input: [1, 4, 4]\nlayers: [{type: conv, filters: 2, kernel: 1}]\n")
    #expect(throws: PlanError.self) {
      try Planner.plan(spatial, PlanOptions(mode: .training, batch: 1))
    }
  }

  /// The spec reader refuses such specs first; a network built in code meets the planner's check.
  @Test func refusesNetworksDeeperThanItsCap() throws {
    var network = try InferredNetwork(yaml: "input: [1, 2, 2]\nlayers: [{type: relu}]\n")
    network.layers = Array(repeating: network.layers[0], count: Limits.maximumLayerCount + 1)
    let error = #expect(throws: PlanError.self) {
      try Planner.plan(network, PlanOptions(mode: .inference, batch: 1))
    }
    #expect(error?.message.contains("more than the planner takes") == true)
  }
}
