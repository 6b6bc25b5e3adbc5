import ArgumentParser
import CNNC
import CNNCMPI
import Foundation

/// `cnnc run --train`: the library's `TrainingSession` with what a person watches: a progress
/// bar, a line per epoch, Ctrl-C, and the summary. Under mpirun, every rank trains and rank 0
/// alone prints.
struct TrainingRun {
  let network: InferredNetwork
  let data: TrainingData
  let options: TrainingOptions
  let command: RunCommand
  let group: MPIProcessGroup?

  func run() throws {
    // Handlers first, so that a signal mpirun forwards while the session starts is not lost.
    Interrupt.install()
    let watchdog = command.stepTimeout.map { Watchdog(seconds: $0) }
    // After MPI_Finalize too: a rank that hangs there still ends the job.
    defer { watchdog?.stop() }
    let session: TrainingSession
    do {
      session = try TrainingSession(
        network: network, train: data.train, test: data.test, validation: data.validation,
        options: options,
        checkpoint: command.checkpoint(network), weights: command.weights,
        resume: command.resume, group: group)
    } catch {
      throw CommandFailure(error)
    }
    do {
      try train(session, watchdog: watchdog)
    } catch let failure as CommandFailure {
      // No MPI_Finalize after a failure (as when commands exited on the spot): it waits for the
      // other ranks, which may be waiting in a collective for this one; mpirun ends them when
      // this process exits 1.
      throw failure
    } catch {
      group?.finalize()
      throw error
    }
    group?.finalize()
  }

  private func train(_ session: TrainingSession, watchdog: Watchdog?) throws {
    guard (group?.rank ?? 0) == 0 else {
      // Rank 0 says why when there is nothing to train.
      if command.resume != nil && session.isFinished { return }
      do {
        let summary = try session.run(stop: Interrupt.flag) { _ in watchdog?.touch() }
        if summary.stopped { throw ExitCode(130) }
      } catch let error as SessionError {
        throw CommandFailure(error)
      }
      return
    }
    if let group, group.size > 1 {
      let workers = group.size * options.threads
      printError(
        "training on \(group.size) processes × \(options.threads) thread\(options.threads == 1 ? "" : "s"): "
          + "batch \(options.batch), \(options.batch / workers) images per worker")
    }
    let trainer = session.trainer
    if let resume = command.resume, session.isFinished {
      printError(
        "nothing to train: \(resume) is at step \(trainer.step) (epoch \(trainer.epoch)), which "
          + "already meets --steps/--epochs; raise them to train further")
      if command.json {
        print(
          Self.summary(
            steps: trainer.step, batchesPerEpoch: trainer.batchesPerEpoch, run: nil,
            checkpoint: session.checkpoint))
      }
      return
    }
    if !data.classNames.isEmpty {
      try saveClassNames(beside: session.checkpoint)
    }
    let record: TrainingRecord
    do {
      record = try TrainingRecord(
        logPath: command.log, plotPath: command.plot, title: "\(network.name): training",
        resumedAt: command.resume != nil ? trainer.step : nil)
    } catch {
      throw CommandFailure(error.description)
    }
    let progress = Progress()
    progress.startEpoch()
    let summary: TrainingSession.Summary
    do {
      summary = try session.run(stop: Interrupt.flag) { event in
        watchdog?.touch()
        switch event {
        case .step(let report):
          record.record(report)
          progress.record(
            StepReportView(
              epoch: report.epoch, epochs: options.epochs, batchInEpoch: report.batchInEpoch,
              batchesPerEpoch: report.batchesPerEpoch, loss: report.loss,
              correct: report.correct, samples: report.samples))
        case .epochEnded(let epoch, let testAccuracy, let validationAccuracy):
          let accuracies = Self.accuracies(validation: validationAccuracy, test: testAccuracy)
          printError("epoch \(epoch): " + (accuracies.isEmpty ? "done" : accuracies))
          do {
            try record.epochEnded(epoch, accuracy: testAccuracy)
          } catch {
            // A picture that cannot be written is not worth a run: say so, train on.
            printError("warning: \(error)")
          }
          progress.startEpoch()
        }
      }
    } catch {
      progress.finish()
      throw CommandFailure(error)
    }
    progress.finish()
    do {
      try record.finish(
        accuracy: summary.testAccuracy,
        epochs: Double(trainer.step) / Double(trainer.batchesPerEpoch))
    } catch {
      throw CommandFailure(error.description)
    }
    let checkpoint = session.checkpoint
    if summary.stopped {
      printError("interrupted at step \(trainer.step); saved \(checkpoint) and its resume state")
      throw ExitCode(130)
    }
    if command.json {
      print(
        Self.summary(
          steps: trainer.step, batchesPerEpoch: trainer.batchesPerEpoch, run: summary,
          checkpoint: checkpoint))
    } else {
      let accuracies = Self.accuracies(
        validation: summary.validationAccuracy, test: summary.testAccuracy)
      print(
        String(
          format: "%d steps, train loss %.4f, %@%.0f images/s, %.1f s; wrote %@",
          trainer.step, summary.trainLoss, accuracies.isEmpty ? "" : accuracies + ", ",
          summary.imagesPerSecond, summary.seconds, checkpoint))
    }
  }

  /// "validation accuracy 98.52%, test accuracy 98.91%", leaving out the ones not measured.
  private static func accuracies(validation: Double?, test: Double?) -> String {
    [("validation", validation), ("test", test)].compactMap { name, value in
      value.map { String(format: "%@ accuracy %.2f%%", name, 100 * $0) }
    }.joined(separator: ", ")
  }

  /// `--json`'s summary of a run; with no `run` (nothing was left to train) its figures are
  /// null. One function for both, so that the two cannot name different keys.
  private static func summary(
    steps: Int, batchesPerEpoch: Int, run: TrainingSession.Summary?, checkpoint: String
  ) -> String {
    JSON.object([
      ("epochs", .number(Double(steps) / Double(batchesPerEpoch))),
      ("steps", .integer(steps)), ("train_loss", run.map { .number($0.trainLoss) } ?? .null),
      ("test_accuracy", run?.testAccuracy.map(JSON.number) ?? .null),
      ("validation_accuracy", run?.validationAccuracy.map(JSON.number) ?? .null),
      ("images_per_second", run.map { .number($0.imagesPerSecond) } ?? .null),
      ("train_images_per_second", run.map { .number($0.trainImagesPerSecond) } ?? .null),
      ("seconds", .number(run?.seconds ?? 0)), ("checkpoint", .string(checkpoint)),
    ]).text
  }

  /// Prints the folder's class indices and writes them beside the checkpoint
  /// (`Checkpoints.classNamesPath`).
  private func saveClassNames(beside checkpoint: String) throws {
    printError(
      "classes: "
        + data.classNames.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", ")
        + " (saved in \(Checkpoints.classNamesPath(for: checkpoint)))")
    do {
      try Checkpoints.writeClassNames(data.classNames, beside: checkpoint)
    } catch {
      throw CommandFailure(error.description)
    }
  }
}
