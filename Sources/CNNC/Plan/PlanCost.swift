/// FLOPs a plan does per sample: 2 × multiply-adds of every matrix product it runs. Training
/// counts forward, the weight gradients, and the input gradients a layer actually computes.
extension ExecutionPlan {
  public var flopsPerSample: Int {
    var total = 0
    for step in steps {
      guard let index = step.layer, let operands = operands[index] else { continue }
      let layer = network.layers[index]
      let forward = layer.flops ?? 0
      guard forward > 0 else { continue }
      switch step.phase {
      case .forward, .loss:
        total += forward
      case .backward:
        let inputGradients = operands.inputGradients.contains { $0 != nil } ? 1 : 0
        total += forward * (1 + inputGradients)
      }
    }
    return total
  }
}
