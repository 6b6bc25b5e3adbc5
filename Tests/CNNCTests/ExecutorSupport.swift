@testable import CNNC

/// Deterministic test data: a shuffled ramp, so that no two inputs tie (max pooling) and none
/// sits within 1/count of a kink at zero (ReLU).
func distinctValues(_ count: Int, seed: UInt64) -> [Float] {
  var generator = SplitMix64(seed: seed)
  let ramp = (0..<count).map { Float(2 * $0 + 1) / Float(count) - 1 }
  return ramp.shuffled(using: &generator)
}

func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
  var generator = SplitMix64(seed: seed)
  return (0..<count).map { _ in (generator.nextUnitFloat() * 2 - 1) * scale }
}

/// An executor for `yaml` with seeded weights and non-zero biases (every learned 1-D tensor).
func makeExecutor(_ yaml: String, _ options: PlanOptions, seed: UInt64 = 7) throws -> Executor {
  let plan = try Planner.plan(try InferredNetwork(yaml: yaml), options)
  let executor = try Executor(plan: plan, seed: seed)
  for (index, slot) in plan.parameters.enumerated()
  where slot.dimensions.count == 1 && slot.role == .learned {
    _ = executor.parameter(slot.name)?.update(
      fromContentsOf: randomValues(slot.count, seed: seed + UInt64(index), scale: 0.5))
  }
  return executor
}
