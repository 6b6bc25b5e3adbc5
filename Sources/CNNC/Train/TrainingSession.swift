import Foundation
import Synchronization

/// Why a training session could not start or go on. The message names the file where there is
/// one; `location` is set when the spec itself is the place to fix (its file, line and column).
public struct SessionError: Error, CustomStringConvertible, Sendable {
  public var message: String
  public var location: (file: String, at: SourceLocation)?

  public init(_ message: String, location: (file: String, at: SourceLocation)? = nil) {
    self.message = message
    self.location = location
  }

  public var description: String {
    guard let location else { return message }
    return "\(location.file):\(location.at.line):\(location.at.column): \(message)"
  }
}

/// A flag the caller sets to stop a session at the end of its current step. Setting it is one
/// lock-free store, so a signal handler may do it.
public final class StopFlag: Sendable {
  private let value = Atomic<Bool>(false)

  public init() {}

  public func set() { value.store(true, ordering: .relaxed) }
  public var isSet: Bool { value.load(ordering: .relaxed) }
}

/// Training as a whole: the epoch and step loop that honours `options.epochs` and
/// `options.maximumSteps`, a test-set evaluation and a checkpoint at the end of every epoch and
/// of the run, and resume.
///
/// Every save writes the resume state (which holds the weights and the optimizer's state too)
/// first and the checkpoint second, each atomically, so a kill at any instant leaves a resume
/// state that is whole by itself. The checkpoint path is locked (`flock`) for the session's
/// lifetime: a second session on the same path is refused.
///
/// With a `ProcessGroup`, every rank makes and runs the session together: rank 0 alone reads
/// `weights` or `resume` (the others receive what it read), locks and writes the checkpoint;
/// the test set is split across the ranks; and a stop asked on any rank stops every rank after
/// the same step.
///
/// ```swift
/// let session = try TrainingSession(network: network, data: mnist, options: options,
///                                   checkpoint: "lenet.safetensors")
/// let summary = try session.run { event in print(event) }
/// ```
public final class TrainingSession {
  public let trainer: Trainer
  public let checkpoint: String
  public var options: TrainingOptions { trainer.options }
  private let test: (any ImageDataset)?
  private let validation: (any ImageDataset)?
  private let evaluator: Evaluator?
  /// Held by the rank that writes (the only process, or rank 0).
  private var lock: CheckpointLock?
  private let group: (any ProcessGroup)?
  private var writes: Bool { (group?.rank ?? 0) == 0 }

  /// What a session reports while it runs.
  public enum Event: Sendable {
    case step(StepReport)
    /// An epoch ended; an accuracy is nil without its data.
    case epochEnded(epoch: Int, testAccuracy: Double?, validationAccuracy: Double?)
  }

  /// How a `run` ended.
  public struct Summary: Sendable {
    /// Optimizer steps taken in all, and in this run.
    public var steps: Int
    public var stepsThisRun: Int
    /// Mean loss over the steps of the last epoch run (NaN when no step was taken).
    public var trainLoss: Double
    /// On the test data, after the last step; nil without test data or when stopped early.
    public var testAccuracy: Double?
    /// On the held-out validation images, likewise.
    public var validationAccuracy: Double?
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Images per second of the optimizer steps alone (with their gradient exchange), without
    /// evaluation and saving: what scaling across threads and processes is judged by.
    public var trainImagesPerSecond: Double
    /// The stop flag ended the run before its epochs and steps were done.
    public var stopped: Bool
  }

  /// Prepares a session; nothing is trained until `run`.
  /// - Parameters:
  ///   - network: the network to train, with a valid spec.
  ///   - train: the training images and labels, shuffled each epoch.
  ///   - options: the optimizer, schedule, batch, threads and seed (from the spec's `train:`).
  ///   - test: evaluated after every epoch and at the end; nil to skip evaluation.
  ///   - validation: images held out of training, evaluated likewise.
  ///   - checkpoint: where the weights are written (its resume state beside it, `.resume`).
  ///   - weights: a checkpoint to start from instead of the initialiser.
  ///   - resume: a checkpoint whose resume state to continue from (the weights, the optimizer's
  ///     state, the step and the shuffling all come from it). When it already meets the epochs
  ///     or steps, the checkpoint and its resume state are written from it at once.
  ///   - group: the processes of a multi-process run; every rank passes the same arguments.
  public init(
    network: InferredNetwork, train: any ImageDataset, test: (any ImageDataset)? = nil,
    validation: (any ImageDataset)? = nil, options: TrainingOptions, checkpoint: String,
    weights: String? = nil, resume: String? = nil,
    group: (any ProcessGroup)? = nil
  ) throws(SessionError) {
    do {
      trainer = try Trainer(network: network, data: train, options: options, group: group)
      if let group, group.size > 1 {
        try RankAgreement.evaluation(test: test, validation: validation).check(in: group)
      }
      evaluator =
        test == nil && validation == nil ? nil : try Evaluator(network: network)
    } catch {
      throw SessionError("\(error)")
    }
    self.test = test
    self.validation = validation
    self.checkpoint = checkpoint
    self.group = group
    var start = Start()
    var failure: SessionError?
    if writes {
      do throws(SessionError) {
        start = try prepareFiles(weights: weights, resume: resume)
      } catch {
        failure = error
      }
    }
    if let group, group.size > 1 {
      do {
        try start.share(in: group, failed: failure != nil, trainer: trainer)
      } catch {
        throw SessionError("\(error)")
      }
    }
    if let failure { throw failure }
    do {
      if let weights = start.weights { trainer.setWeights(weights) }
      if let state = start.state {
        trainer.setWeights(state.weights)
        try trainer.restore(
          step: state.step, epoch: state.epoch, batchInEpoch: state.batchInEpoch,
          optimizerState: state.optimizerState, randomStates: state.randomStates)
      }
    } catch {
      throw SessionError("\(resume ?? checkpoint): \(error)")
    }
    // A resume state that already meets the epochs or steps has nothing to train, but the
    // checkpoint beside it may be a save older than it (a kill between the last save's two
    // writes): both are written again from the state, the bytes a run to that step writes.
    if resume != nil && isFinished { try save() }
  }

  /// Locks the checkpoint and reads what the run starts from: the writing rank's part of
  /// `init`.
  private func prepareFiles(weights: String?, resume: String?) throws(SessionError) -> Start {
    // Find out now, not after an hour of training, that the checkpoint cannot be written there.
    do {
      try OutputPath.check(checkpoint)
      try OutputPath.check(Checkpoints.resumePath(for: checkpoint))
      lock = try CheckpointLock(checkpoint: checkpoint)
    } catch {
      throw SessionError(error.description)
    }
    lock?.removeStaleTemporaries(of: checkpoint)
    let floats = trainer.weights.count
    var start = Start()
    do {
      if let weights {
        start.weights = try Checkpoints.values(
          of: try SafeTensors.read(weights), path: weights, trainer.parameters, floats: floats)
      }
      if let resume {
        // Everything comes from the resume state; the checkpoint beside it may be a save older
        // or newer than it (a kill between the two writes) and is not read.
        start.state = try ResumeState.read(
          Checkpoints.resumePath(for: resume), trainer.parameters, floats: floats,
          optimizer: options.optimizer, seed: options.seed, batch: options.batch)
      }
    } catch {
      throw SessionError(error.description)
    }
    return start
  }

  /// The options' epochs or steps are all taken (a resumed session may start so).
  public var isFinished: Bool {
    trainer.epoch >= options.epochs || trainer.step >= (options.maximumSteps ?? .max)
  }

  /// Trains until the epochs or steps are done or `stop` is set, then evaluates (unless
  /// stopped) and saves. `events` is called on this thread after every step and epoch.
  @discardableResult
  public func run(stop: StopFlag? = nil, events: (Event) -> Void = { _ in }) throws(SessionError)
    -> Summary
  {
    let start = Date()
    let firstStep = trainer.step
    var testAccuracy: Double?
    var validationAccuracy: Double?
    var lossSum = 0.0
    var epochSteps = 0
    var stopped = false
    var stepSeconds = 0.0
    while !isFinished {
      // One process stops before the step; processes agree on it in the step's exchange.
      let stopAsked = stop?.isSet == true
      if stopAsked && (group?.size ?? 1) == 1 {
        stopped = true
        break
      }
      let report: StepReport
      let stepStart = monotonicNanoseconds()
      do {
        report = try trainer.trainStep(stopRequested: stopAsked)
        stepSeconds += Double(monotonicNanoseconds() - stepStart) / 1e9
      } catch {
        let kept =
          FileManager.default.fileExists(atPath: checkpoint)
          ? "\(checkpoint) is left as it was" : "no checkpoint was written"
        throw SessionError("\(error) (\(kept))")
      }
      testAccuracy = nil
      validationAccuracy = nil
      lossSum += Double(report.loss)
      epochSteps += 1
      events(.step(report))
      if trainer.batchInEpoch == 0 {
        testAccuracy = try evaluate()
        validationAccuracy = try evaluate(validation)
        events(
          .epochEnded(
            epoch: trainer.epoch, testAccuracy: testAccuracy,
            validationAccuracy: validationAccuracy))
        try save()
        if !isFinished { (lossSum, epochSteps) = (0, 0) }
      }
      if report.stopRequested {
        stopped = !isFinished
        break
      }
    }
    if !stopped, testAccuracy == nil, validationAccuracy == nil {
      testAccuracy = try evaluate()
      validationAccuracy = try evaluate(validation)
    }
    try save()
    let seconds = Date().timeIntervalSince(start)
    let steps = trainer.step - firstStep
    return Summary(
      steps: trainer.step, stepsThisRun: steps,
      trainLoss: epochSteps > 0 ? lossSum / Double(epochSteps) : .nan,
      testAccuracy: testAccuracy, validationAccuracy: validationAccuracy, seconds: seconds,
      imagesPerSecond: Double(steps * options.batch) / max(seconds, 1e-9),
      trainImagesPerSecond: Double(steps * options.batch) / max(stepSeconds, 1e-9),
      stopped: stopped)
  }

  /// The fraction of the test data classified correctly with the current weights; nil without
  /// test data. With a process group each rank evaluates its share and the counts are summed.
  public func evaluate() throws(SessionError) -> Double? { try evaluate(test) }

  private func evaluate(_ test: (any ImageDataset)?) throws(SessionError) -> Double? {
    guard let test, let evaluator else { return nil }
    do {
      try trainer.broadcastWeights()
      let (ranks, rank) = (group?.size ?? 1, group?.rank ?? 0)
      let share = (rank * test.count / ranks)..<((rank + 1) * test.count / ranks)
      var (correct, _) = try evaluator.run(
        weights: trainer.weights, data: test, preprocessing: options.preprocessing,
        samples: share)
      if let group, ranks > 1 {
        correct = Int(try group.allGather([Int64(correct)]).reduce(0, +))
      }
      return Double(correct) / Double(test.count)
    } catch {
      throw SessionError("\(error)")
    }
  }

  /// Writes the resume state, then the checkpoint (the order `--resume` relies on). With a
  /// process group every rank calls it and rank 0 writes.
  public func save() throws(SessionError) {
    let randomStates: [UInt64]
    do {
      randomStates = try trainer.randomStates()
    } catch {
      throw SessionError("\(error)")
    }
    guard writes else { return }
    let weights = trainer.weights
    let state = ResumeState(
      step: trainer.step, epoch: trainer.epoch, batchInEpoch: trainer.batchInEpoch,
      randomStates: randomStates, weights: weights,
      optimizerState: trainer.optimizerState)
    do {
      try state.encoded(
        trainer.parameters, optimizer: options.optimizer, seed: options.seed, batch: options.batch
      )
      .write(to: Checkpoints.resumePath(for: checkpoint), faultLabel: "resume")
      try Checkpoints.tensors(
        weights, trainer.parameters,
        metadata: [
          "format": "pt", "network": trainer.network.name, "step": String(trainer.step),
          "lowering": options.lowering.rawValue, "lowerings": trainer.loweringSummary,
        ]
      ).write(to: checkpoint, faultLabel: "checkpoint")
    } catch {
      throw SessionError(error.description)
    }
  }
}

/// What a session starts from besides the initialiser: a checkpoint's weights or a resume state,
/// as the writing rank read them.
private struct Start {
  var weights: [Float]?
  var state: ResumeState?

  /// Rank 0's start on every rank; a rank 0 that `failed` says so, and the others throw.
  mutating func share(in group: any ProcessGroup, failed: Bool, trainer: Trainer) throws {
    var header: [Int64] = [
      failed ? 1 : 0, weights == nil ? 0 : 1, state == nil ? 0 : 1,
      Int64(state?.step ?? 0), Int64(state?.epoch ?? 0), Int64(state?.batchInEpoch ?? 0),
      Int64(state?.randomStates.count ?? 0),
    ]
    try group.broadcast(&header, root: 0)
    if header[0] != 0 {
      // Rank 0 prints its own error; the others stop with a pointer to it.
      guard group.rank == 0 else {
        throw TrainingError(message: "rank 0 could not start the run (its error says why)")
      }
      return
    }
    let floats = trainer.weights.count
    if header[1] != 0 {
      var values = weights ?? [Float](repeating: 0, count: floats)
      try group.broadcast(&values, root: 0)
      weights = values
    }
    if header[2] != 0 {
      var values = state?.weights ?? [Float](repeating: 0, count: floats)
      var optimizer =
        state?.optimizerState ?? [Float](repeating: 0, count: trainer.optimizerState.count)
      var randoms = state?.randomStates ?? [UInt64](repeating: 0, count: Int(header[6]))
      try group.broadcast(&values, root: 0)
      try group.broadcast(&optimizer, root: 0)
      try group.broadcast(&randoms, root: 0)
      state = ResumeState(
        step: Int(header[3]), epoch: Int(header[4]), batchInEpoch: Int(header[5]),
        randomStates: randoms, weights: values, optimizerState: optimizer)
    }
  }
}
