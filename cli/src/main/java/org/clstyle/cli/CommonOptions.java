package org.clstyle.cli;

import java.nio.file.Path;
import org.clstyle.image.Images;
import picocli.CommandLine.Option;

/** Options several commands share, as picocli mixins, so that each is declared and described once. */
final class CommonOptions {
    private CommonOptions() {}

    /** {@code --device}: stylize, texture, loss, bench, tune. */
    static final class Device {
        @Option(names = "--device", paramLabel = "DEV",
                description = "OpenCL device: index or part of its name (see `clstyle devices`; default: the first GPU, else the first device).")
        String device;
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
}
