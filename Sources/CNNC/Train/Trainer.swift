/// Why training stopped with an error.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
  public var message: String
  public var description: String { message }
}

/// Settings of one training run: the spec's `train:` section, with command-line overrides.
public struct TrainingOptions: Sendable {
  public var batch: Int
  public var epochs: Int
  /// Stop once the step count reaches this (counted from the very first step, across resumes).
  public var maximumSteps: Int?
  public var shuffle: Bool
  public var seed: Int
  public var weightInit: WeightInit
  /// Samples of a batch are split across this many workers, each with its own plan.
  public var threads: Int
  public var optimizer: Optimizer
  public var learningRatePolicy: LearningRatePolicy
  /// How samples are prepared: scale, mean and std, and the training-only augmentation.
  public var preprocessing: Preprocessing
  /// Each pixel value is multiplied by this (`preprocessing.scale`).
  public var scale: Float {
    get { preprocessing.scale }
    set { preprocessing.scale = newValue }
  }
  /// The kernels' instruction-set path; nil: `CNNC_ISA` if set, else the CPU's best.
  public var isa: KernelISA?
  /// How the training plans compute convolutions.
  public var lowering: ConvolutionLowering

  public init(_ spec: TrainSpec) {
    batch = spec.batch
    epochs = spec.epochs
    shuffle = spec.shuffle
    seed = spec.seed
    weightInit = spec.weightInit
    threads = 1
    optimizer = spec.optimizer
    learningRatePolicy = spec.learningRatePolicy
    preprocessing = spec.data.preprocessing
    lowering = spec.lowering
  }
}

/// What one optimizer step measured.
public struct StepReport: Sendable {
  public var step: Int
  public var epoch: Int
  public var batchInEpoch: Int
  public var batchesPerEpoch: Int
  public var loss: Float
  public var correct: Int
  public var samples: Int
  /// Some process of the run asked to stop during this step; every process stops after it.
  public var stopRequested: Bool
  /// The learning rate this step used.
  public var learningRate: Double
}

/// Trains a network on labelled images with mini-batch SGD or Adam: data-parallel over `threads`
/// executors, each running its slice of every batch; their gradients are averaged in a fixed
/// order, so a run is bit-for-bit repeatable for a given seed and thread count.
///
/// With a `ProcessGroup` of R processes, the batch is split across all R × `threads` workers
/// (worker w of the run is thread w mod T of rank w / T). Every step each rank gathers every
/// worker's gradient and sums them in worker order, exactly as one process with R × T threads
/// does, so the two give bit-identical weights.
public final class Trainer {
  public let network: InferredNetwork
  public let options: TrainingOptions
  public let data: any ImageDataset
  /// The optimizer's state: `options.optimizer.stateNames.count` blocks, one float per weight.
  public private(set) var optimizerState: [Float]
  public let parameters: [ParameterSlot]
  /// The learned tensors' places in the weights: the optimizer touches nothing else.
  private let learnedRanges: [Range<Int>]
  /// Optimizer steps taken so far, and where in the data the next batch starts.
  public private(set) var step = 0
  public private(set) var epoch = 0
  public private(set) var batchInEpoch = 0

  private var workers: [Executor] = []
  /// Each worker's samples, read ahead of the step that needs them.
  private var samples: [WorkerSamples] = []
  /// Every worker's first sample within the batch, and how many it takes, across all ranks.
  private var slices: [(start: Int, count: Int)] = []
  /// The index in `slices` of this process's first worker.
  private var firstWorker = 0
  private var order: [Int] = []
  let group: (any ProcessGroup)?
  /// Gradients on their way between ranks (nil in one process): each worker's record is a
  /// header (loss, correct, stop) and its gradient, `recordFloats` in all.
  private var exchange: GradientExchange?

  public var batchesPerEpoch: Int { data.count / options.batch }

  /// Plans a worker per thread; with a `group`, every rank must call this together (it starts
  /// every rank from rank 0's initial weights).
  public init(
    network: InferredNetwork, data: any ImageDataset, options: TrainingOptions,
    group: (any ProcessGroup)? = nil
  ) throws {
    // Before anything whose size the ranks' own settings decide.
    if let group, group.size > 1 {
      try RankAgreement.training(network: network, data: data, options: options).check(in: group)
    }
    guard options.batch <= data.count else {
      throw TrainingError(
        message: "batch \(options.batch) is larger than the \(data.count) training images")
    }
    let imageShape = data.imageShape
    guard imageShape == network.input else {
      throw TrainingError(
        message: "the network's input \(network.input) does not fit \(imageShape) images")
    }
    self.network = network
    self.options = options
    self.data = data
    self.group = group
    let ranks = group?.size ?? 1
    let (allWorkers, overflow) = ranks.multipliedReportingOverflow(by: options.threads)
    if ranks > 1 {
      guard !overflow, options.batch % allWorkers == 0 else {
        throw TrainingError(
          message: "batch \(options.batch) does not split evenly across \(ranks) processes × "
            + "\(options.threads) thread\(options.threads == 1 ? "" : "s") = \(allWorkers) "
            + "workers (\(options.batch) mod "
            + "\(allWorkers) = \(options.batch % max(allWorkers, 1)))")
      }
    }
    slices = workerSlices(batch: options.batch, threads: ranks > 1 ? allWorkers : options.threads)
    firstWorker = (group?.rank ?? 0) * options.threads
    for worker in firstWorker..<min(firstWorker + options.threads, slices.count) {
      let plan = try Planner.plan(
        network,
        PlanOptions(
          mode: .training, batch: slices[worker].count, isa: options.isa,
          lowering: options.lowering))
      if let group, ranks > 1, exchange == nil {
        exchange = GradientExchange(
          group: group, allWorkers: slices.count,
          gradientFloats: plan.parameterFloats)
      }
      // Each process's first worker owns the weights; its others read the same storage.
      workers.append(
        try Executor(
          plan: plan, seed: UInt64(options.seed) &+ UInt64(worker) &* 0x9E37_79B9,
          weightInit: options.weightInit, sharingWeightsOf: workers.first,
          gradientStorage: exchange?.gradientStorage(worker: worker)))
    }
    let capacities = slices[firstWorker..<(firstWorker + workers.count)].map(\.count)
    samples = capacities.map { capacity in
      WorkerSamples(options.preprocessing, shape: network.input, capacity: capacity)
    }
    parameters = workers[0].plan.parameters
    learnedRanges = parameters.filter { $0.role == .learned }.map(\.range)
    optimizerState = [Float](
      repeating: 0, count: options.optimizer.stateNames.count * workers[0].weights.count)
    order = epochOrder(0)
    // Rank 0's initial weights everywhere (the others were drawn from other seeds).
    try broadcastWeights()
  }

  /// The sample order of epoch `epoch`: a seeded shuffle (a function of the seed and the epoch
  /// alone, so a resumed run sees the same batches), or file order.
  private func epochOrder(_ epoch: Int) -> [Int] {
    var order = Array(0..<data.count)
    if options.shuffle {
      var generator = SplitMix64(
        seed: UInt64(options.seed) &* 0x2545_F491_4F6C_DD1D &+ UInt64(epoch))
      order.shuffle(using: &generator)
    }
    return order
  }

  /// The parameters, laid out as `parameters`.
  public var weights: [Float] { Array(workers[0].weights) }

  /// How each convolution is lowered in training (`ExecutionPlan.loweringSummary`). Workers plan
  /// their own slices of the batch, and Winograd needs 256 tiles in a slice, so uneven or small
  /// slices may lower differently: each worker whose lowering differs from the first's is named.
  public var loweringSummary: String {
    let first = workers[0].plan.loweringSummary
    let others = workers.enumerated().dropFirst().compactMap { index, worker in
      worker.plan.loweringSummary == first
        ? nil : "worker \(index): \(worker.plan.loweringSummary)"
    }
    return ([first] + others).joined(separator: " | ")
  }

  /// One optimizer step on the next batch; throws, leaving the weights as they were, when the
  /// loss is not finite.
  ///
  /// With a process group every rank calls this together; `stopRequested` is this rank's wish
  /// to stop, and the report says whether any rank had it.
  @discardableResult
  public func trainStep(stopRequested: Bool = false) throws -> StepReport {
    let current = WorkerSamples.Position(epoch: epoch, batchInEpoch: batchInEpoch)
    let crossesEpoch = batchInEpoch + 1 == batchesPerEpoch
    let next = WorkerSamples.Position(
      epoch: crossesEpoch ? epoch + 1 : epoch, batchInEpoch: crossesEpoch ? 0 : batchInEpoch + 1)
    let nextOrder = crossesEpoch ? epochOrder(epoch + 1) : order
    var results = [(loss: Float, correct: Int)](repeating: (0, 0), count: workers.count)
    var failures = [DataError?](repeating: nil, count: workers.count)
    results.withUnsafeMutableBufferPointer { results in
      failures.withUnsafeMutableBufferPointer { failures in
        parallelFor(workers.count) { index in
          let (worker, staged) = (workers[index], samples[index])
          do throws(DataError) {
            if !staged.holds(current) {
              staged.stage(
                data, share(of: order, at: current, worker: index), at: current, seed: options.seed)
            }
            try staged.deliver(to: worker)
          } catch {
            failures[index] = error
            return
          }
          results[index] = worker.trainStep()
          // The input has been copied: read this worker's share of the next batch now.
          staged.stage(
            data, share(of: nextOrder, at: next, worker: index), at: next, seed: options.seed)
        }
      }
    }
    // A sample that cannot be read (a corrupt image found in its turn) stops training here,
    // before the update: the weights stay as they were.
    if let failure = failures.lazy.compactMap({ $0 }).first {
      throw TrainingError(message: "\(failure)")
    }
    var sources = workers.map { UnsafePointer($0.gradients.baseAddress!) }
    var anyStop = stopRequested
    if let exchange {
      let gathered = try exchange.run(
        firstWorker: firstWorker, results: results, stop: stopRequested)
      (results, sources, anyStop) = (gathered.results, gathered.gradients, gathered.stop)
    }
    // The batch's mean loss: each worker's mean weighted by its share of the batch.
    let shares = slices.map { Float($0.count) / Float(options.batch) }
    var loss: Float = 0
    for (share, result) in zip(shares, results) { loss += share * result.loss }
    guard loss.isFinite else {
      let rate = options.learningRatePolicy.rate(base: options.optimizer.learningRate, step: step)
      let cause =
        step > 0 && rate >= 1
        ? " (the learning rate is \(String(format: "%g", rate)); a rate that large makes the "
          + "weights diverge)" : ""
      throw TrainingError(
        message: "the loss is \(loss) at step \(step + 1)\(cause); training stopped")
    }
    // The averaged gradient and the update in one pass, split across the threads.
    let rate = options.learningRatePolicy.rate(base: options.optimizer.learningRate, step: step)
    let weights = workers[0].weights
    let learned = learnedRanges
    optimizerState.withUnsafeMutableBufferPointer { state in
      let chunk = (weights.count + workers.count - 1) / workers.count
      parallelFor(workers.count) { part in
        let share = min(part * chunk, weights.count)..<min((part + 1) * chunk, weights.count)
        for tensor in learned where tensor.overlaps(share) {
          options.optimizer.update(
            weights: weights, gradients: sources, shares: shares, state: state, step: step + 1,
            rate: rate, range: tensor.clamped(to: share))
        }
      }
    }
    step += 1
    let report = StepReport(
      step: step, epoch: epoch, batchInEpoch: batchInEpoch, batchesPerEpoch: batchesPerEpoch,
      loss: loss, correct: results.reduce(0) { $0 + $1.correct }, samples: options.batch,
      stopRequested: anyStop, learningRate: rate)
    (epoch, batchInEpoch, order) = (next.epoch, next.batchInEpoch, nextOrder)
    return report
  }

  /// The samples worker `index` (of this process) takes from the batch at `position`.
  private func share(of order: [Int], at position: WorkerSamples.Position, worker index: Int)
    -> ArraySlice<Int>
  {
    let first = position.batchInEpoch * options.batch + slices[firstWorker + index].start
    return order[first..<(first + slices[firstWorker + index].count)]
  }

  /// Replaces the weights, e.g. from a checkpoint (same layout as `parameters`).
  public func setWeights(_ values: [Float]) {
    precondition(values.count == workers[0].weights.count)
    _ = workers[0].weights.update(fromContentsOf: values)
  }

  /// Continues from a saved position.
  public func restore(
    step: Int, epoch: Int, batchInEpoch: Int, optimizerState: [Float], randomStates: [UInt64]
  )
    throws
  {
    guard randomStates.count == slices.count else {
      let threads = "\(options.threads) thread\(options.threads == 1 ? "" : "s")"
      let processes = group.map { "\($0.size) processes × \(threads) = " } ?? ""
      throw TrainingError(
        message: "the resume state was saved by \(randomStates.count) workers, but this run has "
          + "\(processes)\(slices.count); resume with the same processes and threads")
    }
    guard optimizerState.count == self.optimizerState.count,
      batchInEpoch >= 0, batchInEpoch < batchesPerEpoch, epoch >= 0, step >= 0
    else {
      throw TrainingError(
        message: "the resume state does not fit this run (batch or network differ)")
    }
    self.step = step
    self.epoch = epoch
    self.batchInEpoch = batchInEpoch
    self.optimizerState = optimizerState
    order = epochOrder(epoch)
    for (worker, state) in zip(workers, randomStates[firstWorker...]) {
      worker.randomState = state
    }
  }

  /// Every worker's dropout random state, in worker order across all ranks, for resuming.
  /// With a process group every rank calls this together.
  public func randomStates() throws -> [UInt64] {
    let local = workers.map(\.randomState)
    guard let group, group.size > 1 else { return local }
    return try group.allGather(local)
  }

  /// Rank 0's parameters (learned and state, such as batchnorm's running statistics, which
  /// only the run's first worker keeps) on every rank. Every rank calls this together.
  public func broadcastWeights() throws {
    guard let group, group.size > 1 else { return }
    var values = weights
    try group.broadcast(&values, root: 0)
    setWeights(values)
  }
}
