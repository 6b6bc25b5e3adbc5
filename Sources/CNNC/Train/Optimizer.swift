import Foundation

/// How the weights follow their gradients: Caffe's SGD, or PyTorch's Adam and AdamW, with
/// their update rules operation for operation (float32 arithmetic, as both do).
public struct Optimizer: Sendable, Equatable {
  /// The update rule and its hyperparameters besides the learning rate and weight decay.
  public enum Rule: Sendable, Equatable {
    /// v ← m·v + lr·(g + wd·w), then w ← w − v, as Caffe applies it.
    case sgd(momentum: Double)
    /// torch.optim.Adam (decoupled: false; weight decay joins the gradient: g ← g + wd·w) or
    /// torch.optim.AdamW (decoupled: true; w ← w·(1 − lr·wd) first). Then, at step t (from 1):
    /// m ← m + (1 − β1)·(g − m), v ← β2·v + (1 − β2)·g², and
    /// w ← w − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε).
    case adam(beta1: Double, beta2: Double, epsilon: Double, decoupled: Bool)
  }

  public var rule: Rule
  public var learningRate: Double
  public var weightDecay: Double

  public init(_ rule: Rule, learningRate: Double, weightDecay: Double = 0) {
    self.rule = rule
    self.learningRate = learningRate
    self.weightDecay = weightDecay
  }

  public static func sgd(learningRate: Double, momentum: Double = 0, weightDecay: Double = 0)
    -> Optimizer
  {
    Optimizer(.sgd(momentum: momentum), learningRate: learningRate, weightDecay: weightDecay)
  }

  /// PyTorch's defaults: betas (0.9, 0.999), eps 1e-8; weight decay 0 for Adam, 0.01 for AdamW.
  public static func adam(
    learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
    weightDecay: Double? = nil, decoupled: Bool = false
  ) -> Optimizer {
    Optimizer(
      .adam(beta1: beta1, beta2: beta2, epsilon: epsilon, decoupled: decoupled),
      learningRate: learningRate, weightDecay: weightDecay ?? (decoupled ? 0.01 : 0))
  }

  /// "sgd", "adam" or "adamw", as the spec's `optimizer.type` names it.
  public var name: String {
    switch rule {
    case .sgd: return "sgd"
    case .adam(_, _, _, let decoupled): return decoupled ? "adamw" : "adam"
    }
  }

  /// Its state tensors, one float per weight each, by the names the resume file gives them
  /// (PyTorch's for Adam).
  public var stateNames: [String] {
    switch rule {
    case .sgd: return ["momentum"]
    case .adam: return ["exp_avg", "exp_avg_sq"]
    }
  }

  /// One update of `weights` from one gradient; `state` holds `stateNames.count` blocks of
  /// `weights.count` floats; `step` counts updates from 1, this one included.
  public func update(
    weights: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>,
    state: UnsafeMutableBufferPointer<Float>, step: Int, rate: Double
  ) {
    guard let gradient = gradients.baseAddress else { return }
    update(
      weights: weights, gradients: [gradient], shares: [1], state: state, step: step,
      rate: rate, range: weights.indices)
  }

  /// The update for elements `range` from the weighted sum of several gradients (the workers
  /// of a data-parallel step, each the mean over its share of the batch), summed in order.
  ///
  /// It runs a block of elements at a time: the summed gradient of the block first, then the
  /// rule over it, each a plain loop over pointers that the compiler vectorises. Every element
  /// sees the same float operations in the same order as one element at a time would.
  // weights, each gradient: (count); state: (stateNames.count, count)
  public func update(
    weights: UnsafeMutableBufferPointer<Float>, gradients: [UnsafePointer<Float>], shares: [Float],
    state: UnsafeMutableBufferPointer<Float>, step: Int, rate: Double, range: Range<Int>
  ) {
    guard !range.isEmpty, let w = weights.baseAddress, let s = state.baseAddress else { return }
    let blockSize = 512
    withUnsafeTemporaryAllocation(of: Float.self, capacity: blockSize) { block in
      let g = block.baseAddress!
      for start in stride(from: range.lowerBound, to: range.upperBound, by: blockSize) {
        let n = min(blockSize, range.upperBound - start)
        let (first, share) = (gradients[0] + start, shares[0])
        for j in 0..<n { g[j] = share * first[j] }
        for source in 1..<gradients.count {
          let (next, share) = (gradients[source] + start, shares[source])
          for j in 0..<n { g[j] += share * next[j] }
        }
        apply(
          g, n, weights: w + start, state: s + start, count: weights.count, step: step, rate: rate)
      }
    }
  }

  /// The rule over `n` elements with their summed gradients `g`; `state` points at the first
  /// element's first state value, the next state block `count` floats on.
  private func apply(
    _ g: UnsafeMutablePointer<Float>, _ n: Int, weights w: UnsafeMutablePointer<Float>,
    state: UnsafeMutablePointer<Float>, count: Int, step: Int, rate: Double
  ) {
    let decay = Float(weightDecay)
    switch rule {
    case .sgd(let momentum):
      let (m, lr) = (Float(momentum), Float(rate))
      for j in 0..<n {
        let v = m * state[j] + lr * (g[j] + decay * w[j])
        state[j] = v
        w[j] -= v
      }
    case .adam(let beta1, let beta2, let epsilon, let decoupled):
      // As PyTorch: the bias corrections and the step size in double, the rest in float.
      let t = Double(step)
      let stepSize = Float(rate / (1 - pow(beta1, t)))
      let correction2 = Float((1 - pow(beta2, t)).squareRoot())
      let shrink = Float(1 - rate * weightDecay)
      let (keep1, b2, keep2, eps) = (
        Float(1 - beta1), Float(beta2), Float(1 - beta2), Float(epsilon)
      )
      if decoupled {
        for j in 0..<n { w[j] *= shrink }
      } else if decay != 0 {
        for j in 0..<n { g[j] += decay * w[j] }
      }
      let (first, second) = (state, state + count)
      for j in 0..<n {
        let m = first[j] + keep1 * (g[j] - first[j])
        let v = second[j] * b2 + keep2 * g[j] * g[j]
        first[j] = m
        second[j] = v
        w[j] += -stepSize * (m / (v.squareRoot() / correction2 + eps))
      }
    }
  }
}
