package org.clstyle.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.clstyle.serve.Studio;
import org.clstyle.serve.StudioOptions;
import org.clstyle.transfer.StylizeException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code clstyle serve}: the local web studio; runs until Ctrl-C. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Local web studio: drop a content and style images into a page, watch the image form, "
                + "pause, stop, download. Listens on 127.0.0.1 only unless --host says otherwise.")
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--port", paramLabel = "N", description = "TCP port (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port = 8080;

    @Option(names = "--host", paramLabel = "ADDR",
            description = "Interface to listen on (default: ${DEFAULT-VALUE}). Anything but loopback exposes the studio, "
                    + "which has no authentication, to the network.")
    String host = StudioOptions.LOOPBACK;

    @Option(names = "--device", paramLabel = "DEV", description = "OpenCL device: index or name fragment (see `clstyle devices`).")
    String device;

    @Option(names = "--weights", paramLabel = "FILE",
            description = "Converted VGG19 weights (.safetensors); default: the cached file from `clstyle weights fetch`.")
    Path weights;

    @Override
    public Integer call() throws InterruptedException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        StudioOptions o;
        try {
            o = StudioOptions.defaults(port).withHost(host).withDevice(device).withWeights(weights);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        if (!o.loopback()) {
            err.println("clstyle: warning: --host " + host + " makes the studio reachable from other machines;"
                    + " it has no authentication");
        }
        Studio studio;
        try {
            studio = Studio.start(o);
        } catch (StylizeException e) {
            throw new UserError(e.getMessage());
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            studio.close();
            stopped.countDown();
        }, "clstyle-studio-stop"));
        out.println("clstyle studio: " + studio.url() + "  (Ctrl-C to stop)");
        out.flush();
        stopped.await();
        return 0;
    }
}
