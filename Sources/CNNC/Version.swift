/// cnnc's version, as `cnnc --version` prints it and as the ranks of a multi-process run compare
/// it. Set by hand for each release: two builds of one version from different commits are not
/// told apart.
public let cnncVersion = "0.3.0"
