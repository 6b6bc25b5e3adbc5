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
