import ArgumentParser

/// The subcommands, in the order `nngen --help` lists them. Add a new command's type here.
enum CommandList {
    static let all: [ParsableCommand.Type] = [
        Describe.self,
        Emit.self,
        Check.self,
        Grad.self,
        Train.self,
        Predict.self,
        Eval.self,
        Plot.self,
        Inspect.self,
        Init.self,
        Bench.self,
        Convert.self,
    ]
}
