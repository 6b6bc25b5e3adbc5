import ArgumentParser
import CNNC
import Foundation

/// `cnnc run --train`: the loop around the library's `Trainer` that a person watches.
struct TrainingRun {
  let network: InferredNetwork
  let data: MNIST
  let options: TrainingOptions
  let command: RunCommand

  func run() throws {
    let trainer: Trainer
    let evaluator: Evaluator
    do {
      trainer = try Trainer(network: network, data: data.train, options: options)
      evaluator = try Evaluator(network: network)
    } catch {
      fail("\(error)")
    }
    let checkpoint = command.out ?? "\(network.name).safetensors"
    // Find out now, not after an hour of training, that the checkpoint cannot be written there.
    // One run per checkpoint: the lock is held until this run ends.
    let lock: CheckpointLock
    do {
      try OutputPath.check(checkpoint)
      try OutputPath.check(Checkpoints.resumePath(for: checkpoint))
      lock = try CheckpointLock(checkpoint: checkpoint)
    } catch {
      fail(error.description)
    }
    lock.removeStaleTemporaries(of: checkpoint)
    defer { withExtendedLifetime(lock) {} }
    let floats = trainer.weights.count
    if let weights = command.weights {
      trainer.setWeights(try loadWeights(weights, trainer.parameters, floats: floats))
    }
    if let resume = command.resume {
      try restore(trainer, from: resume, floats: floats)
    }
    if let resume = command.resume,
      trainer.epoch >= options.epochs || trainer.step >= (options.maximumSteps ?? .max)
    {
      printError(
        "nothing to train: \(resume) is at step \(trainer.step) (epoch \(trainer.epoch)), which "
          + "already meets --steps/--epochs; raise them to train further")
      if command.json {
        print(
          JSON.object([
            ("epochs", .number(Double(trainer.step) / Double(trainer.batchesPerEpoch))),
            ("steps", .integer(trainer.step)), ("train_loss", .null), ("test_accuracy", .null),
            ("images_per_second", .null), ("seconds", .number(0)),
            ("checkpoint", .string(resume)),
          ]).text)
      }
      return
    }
    Interrupt.install()
    let progress = Progress()
    let start = Date()
    let firstStep = trainer.step
    var testAccuracy: Double?
    var trainLoss = Double.nan
    progress.startEpoch()
    while trainer.epoch < options.epochs, trainer.step < (options.maximumSteps ?? .max) {
      if Interrupt.requested {
        progress.finish()
        save(trainer, to: checkpoint)
        printError("interrupted at step \(trainer.step); saved \(checkpoint) and its resume state")
        throw ExitCode(130)
      }
      let report: StepReport
      do {
        report = try trainer.trainStep()
      } catch {
        let kept =
          FileManager.default.fileExists(atPath: checkpoint)
          ? "\(checkpoint) is left as it was" : "no checkpoint was written"
        fail("\(error) (\(kept))")
      }
      testAccuracy = nil
      progress.record(
        StepReportView(
          epoch: report.epoch, epochs: options.epochs, batchInEpoch: report.batchInEpoch,
          batchesPerEpoch: report.batchesPerEpoch, loss: report.loss, correct: report.correct,
          samples: report.samples))
      trainLoss = progress.epochLoss
      if trainer.batchInEpoch == 0 {
        testAccuracy = evaluate(trainer, evaluator)
        printError(
          String(format: "epoch %d: test accuracy %.2f%%", trainer.epoch, 100 * (testAccuracy ?? 0))
        )
        save(trainer, to: checkpoint)
        progress.startEpoch()
      }
    }
    progress.finish()
    let accuracy = testAccuracy ?? evaluate(trainer, evaluator)
    save(trainer, to: checkpoint)
    let seconds = Date().timeIntervalSince(start)
    let images = Double((trainer.step - firstStep) * options.batch)
    if command.json {
      print(
        JSON.object([
          ("epochs", .number(Double(trainer.step) / Double(trainer.batchesPerEpoch))),
          ("steps", .integer(trainer.step)), ("train_loss", .number(trainLoss)),
          ("test_accuracy", .number(accuracy)), ("images_per_second", .number(images / seconds)),
          ("seconds", .number(seconds)), ("checkpoint", .string(checkpoint)),
        ]).text)
    } else {
      print(
        String(
          format:
            "%d steps, train loss %.4f, test accuracy %.2f%%, %.0f images/s, %.1f s; wrote %@",
          trainer.step, trainLoss, 100 * accuracy, images / seconds, seconds, checkpoint))
    }
  }

  private func evaluate(_ trainer: Trainer, _ evaluator: Evaluator) -> Double {
    do {
      let (correct, _) = try evaluator.run(
        weights: trainer.weights, data: data.test, scale: options.scale)
      return Double(correct) / Double(data.test.count)
    } catch {
      fail("\(error)")
    }
  }

  /// The resume state (which holds the weights too) first, then the checkpoint, each
  /// atomically: a kill at any instant leaves a resume state that is whole by itself, the old
  /// one or the new one.
  private func save(_ trainer: Trainer, to path: String) {
    let weights = trainer.weights
    let state = ResumeState(
      step: trainer.step, epoch: trainer.epoch, batchInEpoch: trainer.batchInEpoch,
      randomStates: trainer.randomStates, weights: weights, velocity: trainer.velocity)
    do {
      try state.encoded(trainer.parameters, seed: options.seed, batch: options.batch)
        .write(to: Checkpoints.resumePath(for: path), faultLabel: "resume")
      try Checkpoints.tensors(
        weights, trainer.parameters,
        metadata: ["format": "pt", "network": network.name, "step": String(trainer.step)]
      ).write(to: path, faultLabel: "checkpoint")
    } catch {
      fail("\(error)")
    }
  }

  /// Everything comes from the resume state beside `path`; the checkpoint itself may be a
  /// save older or newer than it (a kill between the two writes) and is not read.
  private func restore(_ trainer: Trainer, from path: String, floats: Int) throws {
    do {
      let state = try ResumeState.read(
        Checkpoints.resumePath(for: path), trainer.parameters, floats: floats, seed: options.seed,
        batch: options.batch)
      trainer.setWeights(state.weights)
      try trainer.restore(
        step: state.step, epoch: state.epoch, batchInEpoch: state.batchInEpoch,
        velocity: state.velocity, randomStates: state.randomStates)
    } catch let error as CheckpointError {
      fail(error.description)
    } catch {
      fail("\(path): \(error)")
    }
  }
}
