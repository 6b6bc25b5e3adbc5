// cnnc's kernels at LeNet's shapes (each as a one-layer plan), and LeNet's whole training and
// inference steps, timed by ordo-one/benchmark with heap allocations counted (expected: 0 per
// step once the plan is instantiated).
import Benchmark
import CNNC

/// An executor for `yaml` with its input (and labels) filled.
func executor(_ yaml: String, mode: PlanMode, batch: Int) -> Executor {
  do {
    let network = try InferredNetwork(yaml: yaml)
    let executor = try Executor(
      plan: try Planner.plan(network, PlanOptions(mode: mode, batch: batch)))
    var generator = SplitMix64(seed: 1)
    for index in executor.input.indices { executor.input[index] = generator.nextUnitFloat() }
    if let labels = executor.labels {
      for index in labels.indices { labels[index] = Int32(index % 10) }
    }
    return executor
  } catch {
    fatalError("benchmark spec: \(error)")
  }
}

/// LeNet's layers, each alone with its LeNet input shape; dense layers end the plans that need a
/// K×1×1 output for the loss.
let lenetLayers: [(name: String, yaml: String)] = [
  (
    "conv1 1×28×28→20×24×24",
    "input: [1, 28, 28]\nlayers: [{type: conv, filters: 20, kernel: 5}, {type: global_avgpool}]"
  ),
  (
    "pool1 20×24×24→20×12×12",
    "input: [20, 24, 24]\nlayers: [{type: maxpool, kernel: 2, stride: 2}, {type: global_avgpool}]"
  ),
  (
    "conv2 20×12×12→50×8×8",
    "input: [20, 12, 12]\nlayers: [{type: conv, filters: 50, kernel: 5}, {type: global_avgpool}]"
  ),
  ("fc1 800→500 + relu", "input: [50, 4, 4]\nlayers: [{type: dense, units: 500}, {type: relu}]"),
  ("fc2 500→10", "input: [500, 1, 1]\nlayers: [{type: dense, units: 10}]"),
]

let lenet = """
  input: [1, 28, 28]
  layers:
    - {type: conv, name: conv1, filters: 20, kernel: 5}
    - {type: maxpool, name: pool1, kernel: 2, stride: 2}
    - {type: conv, name: conv2, filters: 50, kernel: 5}
    - {type: maxpool, name: pool2, kernel: 2, stride: 2}
    - {type: dense, name: fc1, units: 500}
    - {type: relu, name: relu1}
    - {type: dense, name: fc2, units: 10}
    - {type: softmax, name: prob}
  """

let benchmarks = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .mallocCountTotal], warmupIterations: 3,
    maxDuration: .seconds(2), maxIterations: 1000)

  for (name, yaml) in lenetLayers {
    let forward = executor(yaml, mode: .inference, batch: 64)
    Benchmark("\(name) forward, batch 64") { benchmark in
      for _ in benchmark.scaledIterations { forward.forward() }
    }
    let training = executor(yaml, mode: .training, batch: 64)
    if training.lossGradient != nil {
      Benchmark("\(name) forward + backward, batch 64") { benchmark in
        for _ in benchmark.scaledIterations { training.trainStep() }
      }
    }
  }

  let train = executor(lenet, mode: .training, batch: 64)
  Benchmark("LeNet training step, batch 64") { benchmark in
    for _ in benchmark.scaledIterations { train.trainStep() }
  }
  let infer = executor(lenet, mode: .inference, batch: 64)
  Benchmark("LeNet inference, batch 64") { benchmark in
    for _ in benchmark.scaledIterations { infer.forward() }
  }
  let single = executor(lenet, mode: .inference, batch: 1)
  Benchmark("LeNet inference, batch 1") { benchmark in
    for _ in benchmark.scaledIterations { single.forward() }
  }
}
