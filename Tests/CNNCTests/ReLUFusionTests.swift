import Testing

@testable import CNNC

/// A ReLU fused into the batchnorm or add before it, or at inference into a convolution
/// (`ReLUFusion`): where the planner fuses, and results bit for bit those of the unfused plan,
/// forward and backward, on every path and every convolution lowering.
@Suite struct ReLUFusionTests {
  static let net = """
    input: [3, 12, 10]
    layers:
      - {type: conv, name: c1, filters: 8, kernel: 3, pad: 1}
      - {type: batchnorm, name: bn1}
      - {type: relu, name: r1}
      - {type: conv, name: c2, filters: 8, kernel: 3, pad: 1}
      - {type: batchnorm, name: bn2}
      - {type: add, name: sum, input: [bn2, r1]}
      - {type: relu, name: r2}
      - {type: maxpool, name: pool, kernel: 2}
      - {type: dense, name: fc, units: 6}
      - {type: batchnorm, name: bn3}
      - {type: relu, name: r3}
      - {type: dense, name: out, units: 4}
      - {type: relu, name: last}
    """

  /// Training fuses r1 (into bn1), r2 (into sum) and r3 (into bn3); inference folds bn1 into c1
  /// and fuses r1 into c1's epilogue. The network's last layer never fuses, nor a ReLU after a
  /// layer something else also reads.
  @Test func fusesWhereLegal() throws {
    let network = try InferredNetwork(yaml: Self.net)
    let training = try Planner.plan(
      network, PlanOptions(mode: .training, batch: 4, loss: .outputGradient))
    #expect(training.fusedReLUs == [2: 1, 6: 5, 10: 9])
    let kernels = training.steps.map(\.kernel)
    #expect(kernels.filter { $0 == "relu forward" } == ["relu forward"])
    #expect(kernels.contains("batchnorm forward + relu"))
    #expect(kernels.contains("add backward + relu"))
    let inference = try Planner.plan(network, PlanOptions(mode: .inference, batch: 4))
    #expect(inference.fusedReLUs == [2: 0, 6: 5, 10: 9])
    #expect(inference.steps.map(\.kernel).contains("conv forward by GEMM + relu"))

    let shared = try InferredNetwork(
      yaml: """
        input: [2, 4, 4]
        layers:
          - {type: conv, name: c, filters: 2, kernel: 1}
          - {type: batchnorm, name: bn}
          - {type: relu, name: r}
          - {type: add, input: [r, bn]}
        """)
    let sharedPlan = try Planner.plan(
      shared, PlanOptions(mode: .training, batch: 2, loss: .outputGradient))
    #expect(sharedPlan.fusedReLUs == [:])
  }

  @Test(arguments: KernelISA.supported)
  func fusedMatchesUnfusedBitForBit(_ isa: KernelISA) throws {
    func run(_ mode: PlanMode, fused: Bool) throws -> [[UInt32]] {
      let executor = try makeExecutor(
        Self.net,
        PlanOptions(
          mode: mode, batch: 4, loss: .outputGradient, inputGradient: mode == .training,
          isa: isa, fusesReLU: fused),
        seed: 3)
      #expect(executor.plan.fusedReLUs.isEmpty == !fused)
      _ = executor.input.update(fromContentsOf: randomValues(executor.input.count, seed: 11))
      executor.forward()
      var results = [Array(executor.output).map(\.bitPattern)]
      guard mode == .training else { return results }
      _ = try #require(executor.lossGradient).update(
        fromContentsOf: randomValues(executor.output.count, seed: 12))
      executor.backward()
      results.append(Array(try #require(executor.inputGradient)).map(\.bitPattern))
      results.append(Array(executor.gradients).map(\.bitPattern))
      results.append(Array(executor.weights).map(\.bitPattern))  // running statistics
      return results
    }
    for mode in PlanMode.allCases {
      let (fused, unfused) = (try run(mode, fused: true), try run(mode, fused: false))
      #expect(fused.count == unfused.count)
      for (index, (a, b)) in zip(fused, unfused).enumerated() {
        #expect(a == b, "\(mode), result \(index)")
      }
    }
  }

  /// Inference fusion into each convolution lowering (Winograd's output transform, the direct
  /// convolution (on paths that have it: AVX-512), the implicit GEMM with k in two slices
  /// (12 channels × 5 × 5 = 300 > 256: a ReLU applied on the first slice would show), a ReLU straight after a convolution
  /// and one after a folded batchnorm) gives the unfused plan's bits, a NaN pixel included
  /// (max(NaN, 0) stays NaN in both).
  @Test(arguments: KernelISA.supported)
  func inferenceFusionIntoEveryLoweringIsExact(_ isa: KernelISA) throws {
    let net = """
      input: [16, 12, 40]
      layers:
        - {type: conv, name: winograd, filters: 16, kernel: 3, pad: 1}
        - {type: batchnorm, name: bn1}
        - {type: relu, name: r1}
        - {type: conv, name: direct, filters: 12, kernel: 3, pad: 1}
        - {type: relu, name: r2}
        - {type: conv, name: gemm, filters: 30, kernel: 5, stride: 2, pad: 2}
        - {type: batchnorm, name: bn3}
        - {type: relu, name: r3}
        - {type: dense, name: out, units: 3}
      """
    func run(fused: Bool) throws -> (kernels: [String], output: [UInt32]) {
      let executor = try makeExecutor(
        net, PlanOptions(mode: .inference, batch: 3, isa: isa, fusesReLU: fused), seed: 8)
      // Batchnorm statistics other than 0 and 1, so that folding matters.
      for name in ["bn1", "bn3"] {
        for (key, low) in [("running_mean", -0.5), ("running_var", 0.5)] {
          let tensor = try #require(executor.parameter("\(name).\(key)"))
          for i in tensor.indices { tensor[i] = Float(low) + Float(i % 5) * 0.25 }
        }
      }
      var x = randomValues(executor.input.count, seed: 21)
      x[1_234] = .nan
      _ = executor.input.update(fromContentsOf: x)
      executor.forward()
      return (executor.plan.steps.map(\.kernel), Array(executor.output).map(\.bitPattern))
    }
    let (fused, unfused) = (try run(fused: true), try run(fused: false))
    #expect(
      fused.kernels.filter { $0.hasPrefix("conv") } == [
        "conv forward by Winograd + relu", "conv forward by GEMM + relu",
        "conv forward by GEMM + relu",
      ])
    #expect(!fused.kernels.contains("relu forward"))
    #expect(fused.output == unfused.output)
    #expect(fused.output.contains { Float(bitPattern: $0).isNaN })
  }

  /// The pre-activation buffers are gone: the training plan's lower bound (its most bytes live
  /// at once) is no larger. The arenas themselves are compared only through that bound: best-fit
  /// placement is not monotone (at batch 8 the fused arena came out 1 KB over the unfused one,
  /// each within 0.3% of the same bound), so each must stay within 1.10× of it.
  @Test func memoryIsNoLarger() throws {
    let network = try InferredNetwork(yaml: try AllocationTests.specText("resnet20.yaml"))
    let fused = try Planner.plan(network, PlanOptions(mode: .training, batch: 8))
    let unfused = try Planner.plan(
      network, PlanOptions(mode: .training, batch: 8, fusesReLU: false))
    #expect(fused.fusedReLUs.count == 19)
    #expect(fused.lowerBoundBytes <= unfused.lowerBoundBytes)
    for plan in [fused, unfused] {
      #expect(Double(plan.arenaBytes) <= 1.10 * Double(plan.lowerBoundBytes))
    }
  }
}
