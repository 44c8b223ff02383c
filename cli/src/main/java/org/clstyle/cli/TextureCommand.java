package org.clstyle.cli;

import java.util.concurrent.Callable;
import org.clstyle.transfer.StylizeSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code clstyle texture}: synthesise a texture of any size from style images alone (no content term). */
@Command(name = "texture", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Texture synthesis (Gatys et al. 2015): optimise noise until its Gram matrices match the style images'.")
final class TextureCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    StylizeCommand.Shared shared;

    @Option(names = "--init", paramLabel = "noise|IMAGE", description = "Starting image (default: noise).")
    String init;

    @Mixin
    AugmentOptions extra;

    @Option(names = "--size", paramLabel = "PX|WxH", description = "Output size: N for N x N, or W x H (default: ${DEFAULT-VALUE}).")
    String size = "256";

    @Override
    public Integer call() {
        StylizeSettings settings;
        try {
            int[] wh = parseSize(size);
            settings = shared.builder(init).textureSize(wh[0], wh[1]).size(Math.max(wh[0], wh[1])).apply(extra::apply).build();
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        return StylizeCommand.run(spec, shared, settings);
    }

    /** "256" -> {256, 256}; "320x200" -> {320, 200}. */
    static int[] parseSize(String s) {
        String t = s.trim().toLowerCase(java.util.Locale.ROOT);
        try {
            int x = t.indexOf('x');
            if (x < 0) {
                int n = Integer.parseInt(t);
                return new int[] {n, n};
            }
            return new int[] {Integer.parseInt(t.substring(0, x).trim()), Integer.parseInt(t.substring(x + 1).trim())};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--size: '" + s + "' is not N or WxH");
        }
    }
}
