import Foundation

/// How the learning rate changes with the step count, as Caffe's `lr_policy` defines it.
public enum LearningRatePolicy: Sendable, Equatable {
  /// base
  case fixed
  /// base · (1 + gamma · step)^(−power)
  case inverse(gamma: Double, power: Double)
  /// base · gamma^⌊step / every⌋
  case step(every: Int, gamma: Double)

  public func rate(base: Double, step: Int) -> Double {
    switch self {
    case .fixed: return base
    case .inverse(let gamma, let power): return base * pow(1 + gamma * Double(step), -power)
    case .step(let every, let gamma): return base * pow(gamma, Double(step / every))
    }
  }
}

/// SGD with momentum and weight decay, as Caffe applies it:
/// v ← m·v + lr·(g + wd·w), then w ← w − v, for every weight and bias.
public struct SGD: Sendable, Equatable {
  public var learningRate: Double
  public var momentum: Double
  public var weightDecay: Double

  public init(learningRate: Double, momentum: Double = 0, weightDecay: Double = 0) {
    self.learningRate = learningRate
    self.momentum = momentum
    self.weightDecay = weightDecay
  }

  /// One update of `weights` from `gradients`, keeping `velocity` (all the same length).
  // weights, gradients, velocity: (count)
  public func update(
    weights: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>,
    velocity: UnsafeMutableBufferPointer<Float>, rate: Double
  ) {
    guard let gradient = gradients.baseAddress else { return }
    update(
      weights: weights, gradients: [gradient], shares: [1], velocity: velocity, rate: rate,
      range: weights.indices)
  }

  /// The update for elements `range` from the weighted sum of several gradients (the workers
  /// of a data-parallel step, each the mean over its share of the batch), summed in order.
  // weights, velocity, each gradient: (count)
  public func update(
    weights: UnsafeMutableBufferPointer<Float>, gradients: [UnsafePointer<Float>], shares: [Float],
    velocity: UnsafeMutableBufferPointer<Float>, rate: Double, range: Range<Int>
  ) {
    let (m, lr, wd) = (Float(momentum), Float(rate), Float(weightDecay))
    for i in range {
      var g = shares[0] * gradients[0][i]
      for source in 1..<gradients.count { g += shares[source] * gradients[source][i] }
      velocity[i] = m * velocity[i] + lr * (g + wd * weights[i])
      weights[i] -= velocity[i]
    }
  }
}
