/// This build of cnnc, as `cnnc --version` prints it and as the ranks of a multi-process run
/// compare it.
public let cnncVersion = "0.3.0"
