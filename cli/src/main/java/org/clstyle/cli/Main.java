package org.clstyle.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code clstyle} command: subcommands for devices, weights, stylize, texture, loss, bench and tune. */
@Command(name = "clstyle", mixinStandardHelpOptions = true, version = "clstyle 0.1.0",
        description = "Neural style transfer on any OpenCL device.",
        subcommands = {DevicesCommand.class, WeightsCommand.class, StylizeCommand.class, TextureCommand.class, VisualizeCommand.class, LossCommand.class, BenchCommand.class, TuneCommand.class})
public final class Main implements Runnable {

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command line and returns the exit code; user errors become one line on {@code err}. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cmd = new CommandLine(new Main());
        cmd.setOut(out);
        cmd.setErr(err);
        cmd.setParameterExceptionHandler((ex, a) -> {
            err.println("clstyle: " + ex.getMessage());
            return 2;
        });
        cmd.setExecutionExceptionHandler((ex, c, parsed) -> {
            err.println("clstyle: " + UserError.describe(ex));
            if (System.getenv("CLSTYLE_DEBUG") != null) {
                ex.printStackTrace(err);
            }
            return ex instanceof UserError ue ? ue.exitCode() : 1;
        });
        return cmd.execute(args);
    }
}
