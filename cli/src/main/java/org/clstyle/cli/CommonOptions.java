package org.clstyle.cli;

import java.nio.file.Path;
import org.clstyle.image.Images;
import picocli.CommandLine.Option;

/** Options several commands share, as picocli mixins, so that each is declared and described once. */
final class CommonOptions {
    private CommonOptions() {}

    /** {@code --device}: stylize, texture, loss, bench, train, tune. */
    static final class Device {
        @Option(names = "--device", paramLabel = "DEV",
                description = "OpenCL device: index or part of its name (see `clstyle devices`; default: the first GPU, else the first device)."
                        + " stylize, texture, loss and bench take a comma list (e.g. 0,1): the loss's tiles are shared by those devices,"
                        + " in proportion to their speed measured at the start (CLSTYLE_JAVA_OPTS=-Dclstyle.device.speeds=1,3 forces it);"
                        + " train shares each batch's images among them the same way.")
        String device;

        @picocli.CommandLine.Spec(picocli.CommandLine.Spec.Target.MIXEE)
        picocli.CommandLine.Model.CommandSpec spec;

        /**
         * jcjohnson/neural-style's {@code -multidevice_strategy} (where to split the network's layers across
         * GPUs): clstyle shares the image's tiles among the --device list instead, so the option is refused
         * with one line that says so, rather than as an unknown option.
         */
        @Option(names = "--multidevice-strategy", paramLabel = "LAYERS",
                description = "Not used: jcjohnson/neural-style splits the network's layers across GPUs; clstyle shares the"
                        + " image's tiles among the --device list (each device's memory bounded by --max-device-memory or"
                        + " --tile), so this is refused with that advice.")
        void multideviceStrategy(String layers) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--multidevice-strategy " + layers
                    + ": clstyle does not split the network's layers across devices; it shares the image's tiles among"
                    + " the --device list (e.g. --device 0,1 --max-device-memory 8G), so drop --multidevice-strategy");
        }

        /**
         * --device as a comma list (several devices share the loss's tiles, dealt by their speed); one
         * entry for a plain --device. A bad entry is a UserError naming it, and so is a bad
         * -Dclstyle.device.speeds (the forced speeds, {@link org.clstyle.loss.TileDealer}) with several.
         */
        java.util.List<org.clstyle.cl.ClDevice> devices() {
            try {
                java.util.List<org.clstyle.cl.ClDevice> list = org.clstyle.cl.ClDevice.selectList(device);
                if (list.size() > 1) {
                    org.clstyle.loss.TileDealer.forcedSpeeds(list.size());
                }
                return list;
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage());
            }
        }
    }

    /** {@code --weights} and {@code --max-pixels}: the commands that run VGG19 on the user's images. */
    static final class Inputs {
        @Option(names = "--weights", paramLabel = "FILE",
                description = "Converted VGG19 weights (.safetensors); default: the cached file from `clstyle weights fetch`."
                        + " A .pth or other original file needs `clstyle weights convert` first.")
        Path weights;

        @Option(names = "--max-pixels", paramLabel = "N",
                description = "Refuse input images with more pixels than this, from their header, before decoding"
                        + " (default: ${DEFAULT-VALUE}, 100 megapixels).")
        long maxPixels = Images.DEFAULT_MAX_PIXELS;
    }

    /** {@code --tile} and {@code --max-device-memory}: stylize, texture, loss, bench. */
    static final class Tiling {
        @Option(names = "--tile", paramLabel = "N",
                description = "Evaluate the loss in tiles with cores of about N px (a multiple of 16 for VGG19 to relu5_1) plus a"
                        + " halo covering the receptive field: device memory bounded by the tile, the same loss and gradient.")
        Integer tile;

        @Option(names = "--max-device-memory", paramLabel = "SIZE",
                description = "Device memory budget (K, M or G suffix, e.g. 8G): when the loss would need more, it runs in the"
                        + " largest tiles that fit.")
        String maxDeviceMemory;

        /** --tile as given, 0 when absent; UserError for a value below 1. */
        int tile() {
            if (tile != null && tile < 1) {
                throw new UserError("--tile must be a positive number of pixels, got " + tile);
            }
            return tile == null ? 0 : tile;
        }

        /** --max-device-memory in bytes, 0 when absent; UserError for anything that is not a size. */
        long budget() {
            if (maxDeviceMemory == null) {
                return 0;
            }
            long b = org.clstyle.loss.MemoryEstimate.parseSize(maxDeviceMemory);
            if (b < 0) {
                throw new UserError("--max-device-memory must be a size such as 8G, 512M or 65536K, got '" + maxDeviceMemory + "'");
            }
            return b;
        }

        /** Both, validated, for the loss factory. */
        org.clstyle.loss.LossFactory.Tiling tiling() {
            return new org.clstyle.loss.LossFactory.Tiling(tile(), budget());
        }
    }

    /** {@code --storage}: stylize, loss, bench. */
    static final class Storage {
        @Option(names = "--storage", paramLabel = "float|half",
                description = "How the loss network stores its activations (default float). half: IEEE half precision with"
                        + " float arithmetic (an option for GPUs: half the activations' bytes; the loss differs from float by"
                        + " about 1e-4 relative, see bench/README.md). It runs the GPU kernels on every device, so on a CPU it"
                        + " is many times slower; not with tiles (--tile, or --max-device-memory when it tiles) or several devices.")
        String text;

        /** The storage asked for (FLOAT when the option is absent); a bad value is a UserError naming the option. */
        org.clstyle.nn.DeviceNetwork.Storage storage() {
            if (text == null) {
                return org.clstyle.nn.DeviceNetwork.Storage.FLOAT;
            }
            try {
                return org.clstyle.nn.DeviceNetwork.Storage.parse(text);
            } catch (IllegalArgumentException e) {
                throw new UserError("--storage " + e.getMessage());
            }
        }
    }
}
