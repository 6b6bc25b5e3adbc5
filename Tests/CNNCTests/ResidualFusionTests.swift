import Testing

@testable import CNNC

/// A residual add fused into the convolution that computes one of its inputs, at inference
/// (`ResidualFusion`): where the planner fuses, results bit for bit those of the unfused plan
/// on every path, and no more memory.
@Suite struct ResidualFusionTests {
  /// Two residual blocks on an odd plane (7×9: Winograd's tiles clipped at the edges): in the
  /// first the add reads the convolution first, in the second the residual first and no ReLU
  /// follows. Two adds must not fuse: csum, whose residual `both` reads afterwards, and dsum,
  /// whose convolution reads the residual itself (it would convolve in place).
  static let net = """
    input: [3, 7, 9]
    layers:
      - {type: conv, name: stem, filters: 16, kernel: 3, pad: 1}
      - {type: relu, name: r0}
      - {type: conv, name: a1, filters: 16, kernel: 3, pad: 1}
      - {type: batchnorm, name: abn}
      - {type: relu, name: ar}
      - {type: conv, name: a2, filters: 16, kernel: 3, pad: 1}
      - {type: batchnorm, name: abn2}
      - {type: add, name: asum, input: [abn2, r0]}
      - {type: relu, name: ar2}
      - {type: conv, name: b1, filters: 16, kernel: 3, pad: 1, bias: false}
      - {type: conv, name: b2, filters: 16, kernel: 3, pad: 1, bias: false}
      - {type: add, name: bsum, input: [ar2, b2]}
      - {type: conv, name: c1, filters: 16, kernel: 3, pad: 1}
      - {type: add, name: csum, input: [c1, bsum]}
      - {type: add, name: both, input: [csum, bsum]}
      - {type: conv, name: d1, filters: 16, kernel: 3, pad: 1}
      - {type: add, name: dsum, input: [d1, both]}
      - {type: global_avgpool, name: pool}
      - {type: dense, name: out, units: 5}
    """

  static func executor(_ isa: KernelISA, batch: Int, fused: Bool) throws -> Executor {
    let executor = try makeExecutor(
      net, PlanOptions(mode: .inference, batch: batch, isa: isa, fusesReLU: fused), seed: 5)
    // Batchnorm statistics other than 0 and 1, so that folding matters.
    for name in ["abn", "abn2"] {
      for (key, low) in [("running_mean", -0.5), ("running_var", 0.5)] {
        let tensor = try #require(executor.parameter("\(name).\(key)"))
        for i in tensor.indices { tensor[i] = Float(low) + Float(i % 5) * 0.25 }
      }
    }
    _ = executor.input.update(fromContentsOf: randomValues(executor.input.count, seed: 31))
    return executor
  }

  /// asum fuses into a2 (through its folded batchnorm) and bsum into b2; csum and dsum do not.
  /// Training plans and plans whose convolutions
  /// run by GEMM (too few tiles at batch 1) fuse nothing.
  @Test func fusesWhereLegal() throws {
    let layers = try InferredNetwork(yaml: Self.net).layers.map(\.name)
    let plan = try Self.executor(KernelISA.supported[0], batch: 16, fused: true).plan
    let names = plan.fusedAdds.mapValues { layers[$0] }
    #expect(names == [layers.firstIndex(of: "asum")!: "a2", layers.firstIndex(of: "bsum")!: "b2"])
    #expect(
      plan.steps.filter { $0.kernel.contains("+ add") }.map(\.kernel) == [
        "conv forward by Winograd + add + relu", "conv forward by Winograd + add",
      ])
    #expect(plan.steps.filter { $0.kernel.hasPrefix("add") }.count == 3)
    #expect(try Self.executor(KernelISA.supported[0], batch: 1, fused: true).plan.fusedAdds.isEmpty)
    let network = try InferredNetwork(yaml: Self.net)
    let training = try Planner.plan(network, PlanOptions(mode: .training, batch: 16))
    #expect(training.fusedAdds.isEmpty)
  }

  @Test(arguments: KernelISA.supported)
  func fusedMatchesUnfusedBitForBit(_ isa: KernelISA) throws {
    let fused = try Self.executor(isa, batch: 16, fused: true)
    let unfused = try Self.executor(isa, batch: 16, fused: false)
    #expect(fused.plan.fusedAdds.count == 2 && unfused.plan.fusedAdds.isEmpty)
    fused.forward()
    unfused.forward()
    #expect(Array(fused.output).map(\.bitPattern) == Array(unfused.output).map(\.bitPattern))
  }

  /// A residual that is a view (inference dropout) of the network's input, which the caller
  /// owns, or of a value the convolution itself reads, must not fuse; the plans still give the
  /// unfused results, and the input is left as written.
  @Test(arguments: [
    "layers:\n  - {type: dropout, name: d, rate: 0.5}\n"
      + "  - {type: conv, name: c, filters: 16, kernel: 3, pad: 1, input: input}\n",
    "layers:\n  - {type: conv, name: x, filters: 16, kernel: 3, pad: 1}\n"
      + "  - {type: dropout, name: d, rate: 0.5}\n"
      + "  - {type: conv, name: c, filters: 16, kernel: 3, pad: 1, input: x}\n",
  ])
  func residualsThatAreViewsOfWhatMustSurviveDoNotFuse(_ layers: String) throws {
    let yaml =
      "input: [16, 8, 8]\n" + layers
      + "  - {type: add, name: s, input: [c, d]}\n  - {type: global_avgpool}\n"
      + "  - {type: dense, units: 5}\n"
    func run(fused: Bool) throws -> (plan: ExecutionPlan, output: [UInt32], input: [Float]) {
      let executor = try makeExecutor(
        yaml, PlanOptions(mode: .inference, batch: 16, fusesReLU: fused), seed: 4)
      let x = randomValues(executor.input.count, seed: 9)
      _ = executor.input.update(fromContentsOf: x)
      executor.forward()
      #expect(Array(executor.input) == x)
      return (executor.plan, Array(executor.output).map(\.bitPattern), x)
    }
    let (fused, unfused) = (try run(fused: true), try run(fused: false))
    #expect(fused.plan.steps.contains { $0.kernel.contains("by Winograd") })
    #expect(fused.plan.fusedAdds.isEmpty)
    #expect(fused.output == unfused.output)
  }

  /// ResNet-20's seven adds whose residual is computed before the convolution fuse (the two
  /// downsampling blocks' projections run after it), and the arena shrinks.
  @Test func resNetFusesSevenAddsInLessMemory() throws {
    let network = try InferredNetwork(yaml: try AllocationTests.specText("resnet20.yaml"))
    let fused = try Planner.plan(network, PlanOptions(mode: .inference, batch: 64))
    let unfused = try Planner.plan(
      network, PlanOptions(mode: .inference, batch: 64, fusesReLU: false))
    #expect(fused.fusedAdds.count == 7)
    #expect(fused.lowerBoundBytes < unfused.lowerBoundBytes)
    #expect(Double(fused.arenaBytes) <= 1.10 * Double(fused.lowerBoundBytes))
  }
}
