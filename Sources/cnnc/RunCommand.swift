import ArgumentParser
import CNNC
import CNNCMPI
import Foundation

struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Train a network (--train), or run a checkpoint over the test set (--weights).")

  @Argument(help: "The spec file (YAML), with a train: section naming the data.")
  var spec: String

  @Flag(help: "Train with the spec's train: settings.")
  var train = false

  @Option(
    parsing: .unconditional, help: "Train until this many epochs in all (default: the spec's).")
  var epochs: Int?

  @Option(
    parsing: .unconditional, help: "Stop once this many optimizer steps have been taken in all.")
  var steps: Int?

  @OptionGroup var batchOption: BatchOption
  var batch: Int? { batchOption.batch }

  @Option(
    parsing: .unconditional,
    help: "Random seed for initialisation, shuffling and dropout (default: the spec's).")
  var seed: Int?

  @OptionGroup var threadsOption: ThreadsOption
  var threads: Int { threadsOption.threads }

  @Option(help: "Start from this checkpoint's weights (and, without --train, evaluate it).")
  var weights: String?

  @Option(help: "Where to write the checkpoint (default: <name>.safetensors here).")
  var out: String?

  @Option(help: "Continue an interrupted run from this checkpoint and its .resume state.")
  var resume: String?

  @Option(
    help:
      "Without --train: write the final layer's outputs for every image (N×K float32 .npy).")
  var output: String?

  @Option(
    help: ArgumentHelp(
      "Without --train: run over these images instead of the test split: a folder of PNG/JPEG "
        + "files (their order is written beside --output) or a .npy array.",
      valueName: "folder-or-npy"))
  var input: String?

  @Option(
    help: ArgumentHelp(
      "Exit 1 when no step finishes for this many seconds (under mpirun: a hung process).",
      valueName: "seconds"))
  var stepTimeout: Double?

  @Option(help: "With --train: write the loss and test-accuracy curves here (SVG), each epoch.")
  var plot: String?

  @Option(
    help:
      "With --train: write a CSV line per step (step, epoch, loss, running accuracy, lr, images/s)."
  )
  var log: String?

  @Option(
    help: ArgumentHelp(
      "With --train: how convolutions are computed: auto (Winograd where it is faster) or gemm "
        + "(im2col + GEMM everywhere, the numerics of earlier releases); default: the spec's.",
      valueName: "lowering"))
  var lowering: ConvolutionLowering?

  @OptionGroup var jsonOption: JSONOption
  var json: Bool { jsonOption.json }

  func validate() throws {
    for (name, value) in [("--epochs", epochs), ("--steps", steps)] {
      if let value, value < 1 || value > Limits.maximumSize {
        throw ValidationError("\(name) must be between 1 and \(Limits.maximumSize)")
      }
    }
    if let seed, seed < 0 { throw ValidationError("--seed must be non-negative") }
    if let stepTimeout, !(stepTimeout > 0 && stepTimeout <= 1e6) {
      throw ValidationError("--step-timeout must be between 0 and 1,000,000 seconds")
    }
    if stepTimeout != nil && !train { throw ValidationError("--step-timeout goes with --train") }
    if lowering != nil && !train { throw ValidationError("--lowering goes with --train") }
    if (plot != nil || log != nil) && !train {
      throw ValidationError("--plot and --log go with --train")
    }
    if train && output != nil { throw ValidationError("--output goes with inference, not --train") }
    if train && input != nil { throw ValidationError("--input goes with inference, not --train") }
    if !train && weights == nil {
      throw ValidationError("give --train to train, or --weights FILE to evaluate")
    }
    if !train && resume != nil { throw ValidationError("--resume goes with --train") }
    if weights != nil && resume != nil {
      throw ValidationError("--resume already restores the weights; drop --weights")
    }
  }

  func run() throws {
    let file = try SpecFile(path: spec)
    let result = SpecChecker.check(file.bytes, name: file.defaultName)
    file.printDiagnostics(result.diagnostics.sorted)
    guard result.isValid, let network = result.network else { throw ExitCode(1) }
    try refuseOverlaps(inputs: filesRead(network), outputs: filesWritten(network))
    // Every output is writable where it is, before any work (not after an hour of training).
    for (_, path) in filesWritten(network) {
      do { try OutputPath.check(path) } catch { throw CommandFailure(error.description) }
    }
    if train, let weights {
      try refuseInt8(weights, "it cannot be trained")
    }
    if !train, let input {
      // Inference over --input needs the spec's preprocessing, not its data files: a spec
      // without train: (one made by `cnnc import`) runs on the values as stored.
      if network.train == nil {
        printError(
          "note: \(spec) has no train: section; the images are used as stored (no scale, mean or "
            + "std)")
      }
      let images: any ImageDataset
      do {
        images = try Inference.images(at: input, for: network)
      } catch {
        throw CommandFailure(error.description)
      }
      return try evaluate(
        network, images, network.train?.data.preprocessing ?? Preprocessing())
    }
    guard let trainSpec = network.train else {
      throw CommandFailure(
        "\(spec): the spec has no train: section, which names the data to run on")
    }
    let data: TrainingData
    do {
      data = try TrainingData(for: network, specPath: spec)
    } catch {
      throw CommandFailure(error)
    }
    var options = TrainingOptions(trainSpec)
    options.batch = batch ?? options.batch
    options.epochs = epochs ?? options.epochs
    options.seed = seed ?? options.seed
    options.threads = threads
    options.maximumSteps = steps
    options.lowering = lowering ?? options.lowering
    if train && options.batch > data.train.count {
      throw CommandFailure(
        "\(spec): batch \(options.batch) (\(batch == nil ? "the spec's train.batch" : "--batch")) is "
          + "larger than the \(data.train.count) training images in \(data.train.name(of: 0))")
    }
    if train {
      try TrainingRun(
        network: network, data: data, options: options, command: self,
        group: joinProcessGroup()
      ).run()
    } else {
      guard let test = data.test else {
        throw CommandFailure(
          "\(spec): train.data names no test split; give --input with images to run over")
      }
      try evaluate(network, test, options.preprocessing)
    }
  }

  /// What this run reads: the spec, a checkpoint or resume state, --input, the data files.
  private func filesRead(_ network: InferredNetwork) -> [FileConflicts.Role] {
    var files: [FileConflicts.Role] = [("the spec", spec)]
    if let weights { files.append(("--weights", weights)) }
    // A resumed run writes its checkpoint and resume state back over the ones it resumed from:
    // that is what resuming is. They are inputs that no other output may be.
    if let resume, !FileConflicts.sameFile(resume, checkpoint(network)) {
      files += [("--resume", resume), ("the resume state", Checkpoints.resumePath(for: resume))]
    }
    if let input { files.append(("--input", input)) }
    if train || input == nil {
      files += TrainingData.files(of: network, specPath: spec).map { ("the data", $0) }
    }
    return files
  }

  /// What this run writes, every file of it, sidecars included.
  private func filesWritten(_ network: InferredNetwork) -> [FileConflicts.Role] {
    guard train else {
      guard let output else { return [] }
      return [("--output", output)]
        + (input != nil ? [("its row names", Inference.rowNamesPath(for: output))] : [])
    }
    let checkpoint = checkpoint(network)
    var files: [FileConflicts.Role] = [
      (out == nil ? "the checkpoint" : "--out", checkpoint),
      ("its resume state", Checkpoints.resumePath(for: checkpoint)),
      ("its lock file", CheckpointLock.path(for: checkpoint)),
    ]
    if network.train?.data.format == .folder {
      files.append(("its class names", Checkpoints.classNamesPath(for: checkpoint)))
    }
    if let log { files.append(("--log", log)) }
    if let plot { files.append(("--plot", plot)) }
    return files
  }

  /// Where training writes its checkpoint.
  func checkpoint(_ network: InferredNetwork) -> String { out ?? "\(network.name).safetensors" }

  /// The processes of this run when an MPI launcher (mpirun, srun) started it; nil otherwise.
  private func joinProcessGroup() throws -> MPIProcessGroup? {
    guard MPIProcessGroup.isLaunched(environment: ProcessInfo.processInfo.environment) else {
      return nil
    }
    do {
      let group = try MPIProcessGroup()
      if group.rank > 0 { ErrorLabel.prefix = "rank \(group.rank): " }
      return group
    } catch {
      throw CommandFailure(error)
    }
  }

  /// Inference with --weights over the test split or --input.
  private func evaluate(
    _ network: InferredNetwork, _ data: any ImageDataset, _ preprocessing: Preprocessing
  ) throws {
    do {
      try Inference.check(data, fits: network)
    } catch {
      throw CommandFailure("\(input ?? spec): \(error)")
    }
    let result: Inference.Result
    do {
      result = try Inference.run(
        network, weights: weights ?? "", over: data, preprocessing: preprocessing,
        keepOutputs: output != nil)
    } catch let error as CheckpointError {
      throw CommandFailure(error.description)
    } catch let error as PlanError {
      throw CommandFailure("\(spec): \(error.message)")
    } catch {
      throw CommandFailure("\(spec): \(error)")
    }
    if let output {
      do {
        try Inference.writeOutputs(of: result, data, to: output, namingRows: input != nil)
      } catch {
        throw CommandFailure(error.description)
      }
    }
    if json {
      print(
        JSON.object([
          ("images", .integer(result.images)),
          ("test_accuracy", result.accuracy.map(JSON.number) ?? .null),
          ("images_per_second", .number(result.imagesPerSecond)),
          ("seconds", .number(result.seconds)),
          ("output", output.map(JSON.string) ?? .null),
        ]).text)
    } else {
      let rate = String(format: "%.0f images/s", result.imagesPerSecond)
      if let correct = result.correct, let accuracy = result.accuracy {
        print(
          String(
            format: "test accuracy %.2f%% (%d of %d)  ", 100 * accuracy, correct, result.images)
            + rate)
      } else {
        print("\(result.images) images  \(rate)")
      }
      if let output {
        print(
          "outputs written to \(output)"
            + (input != nil ? " (row order in \(Inference.rowNamesPath(for: output)))" : ""))
      }
    }
  }
}
