import Foundation

/// Softmax over the channels at each position.
// x, y: (N, C, plane)
func softmaxForward(
  _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, samples: Int, channels: Int,
  plane: Int
) {
  for sample in 0..<samples {
    for position in 0..<plane {
      let base = sample * channels * plane + position
      var largest = -Float.infinity
      for c in 0..<channels { largest = max(largest, x[base + c * plane]) }
      var sum: Float = 0
      for c in 0..<channels {
        let e = exp(x[base + c * plane] - largest)
        y[base + c * plane] = e
        sum += e
      }
      for c in 0..<channels { y[base + c * plane] /= sum }
    }
  }
}

/// dx = y ⊙ (dy − Σ_c dy·y), per position.
// y, dy, dx: (N, C, plane)
func softmaxBackward(
  _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
  samples: Int, channels: Int, plane: Int, accumulate: Bool
) {
  for sample in 0..<samples {
    for position in 0..<plane {
      let base = sample * channels * plane + position
      var dot: Float = 0
      for c in 0..<channels { dot += dy[base + c * plane] * y[base + c * plane] }
      for c in 0..<channels {
        let i = base + c * plane
        let value = y[i] * (dy[i] - dot)
        if accumulate { dx[i] += value } else { dx[i] = value }
      }
    }
  }
}

/// Softmax fused with the mean cross-entropy over the batch.
/// Writes the probabilities and the logits' gradient (p − onehot(label)) / N; returns the mean
/// loss and how many samples the largest probability got right.
// logits, probabilities, gradient: (N, K); labels: (N), each in 0..<K
func softmaxCrossEntropy(
  logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
  probabilities: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>,
  samples: Int, classes: Int
) -> (loss: Float, correct: Int) {
  softmaxForward(logits, probabilities, samples: samples, channels: classes, plane: 1)
  var loss: Double = 0
  var correct = 0
  let scale = 1 / Float(samples)
  for sample in 0..<samples {
    let p = probabilities + sample * classes
    let label = Int(labels[sample])
    guard label >= 0, label < classes else {
      // A label outside the classes has no probability: the loss says so by being NaN.
      loss = .nan
      continue
    }
    var best = 0
    for k in 0..<classes {
      if p[k] > p[best] { best = k }
      gradient[sample * classes + k] = (p[k] - (k == label ? 1 : 0)) * scale
    }
    if best == label { correct += 1 }
    // The smallest positive float keeps log finite when a probability underflows to zero.
    loss -= Double(log(max(p[label], Float.leastNormalMagnitude)))
  }
  return (Float(loss / Double(samples)), correct)
}
