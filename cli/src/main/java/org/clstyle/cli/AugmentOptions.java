package org.clstyle.cli;

import java.nio.file.Path;
import org.clstyle.transfer.Augmentation;
import org.clstyle.transfer.StylizeSettings;
import picocli.CommandLine.Option;

/** Per-step augmentation and the per-iteration JSON log: options stylize and texture share. */
final class AugmentOptions {
    @Option(names = "--augment", paramLabel = "PRESET|rotate=DEG,scale=F,shift=PX",
            description = "Warp the image randomly before the network sees it, every step: light (rotate 2, scale 0.02, "
                    + "shift 4), medium (5, 0.05, 8), strong (10, 0.1, 16), none, or e.g. rotate=5,scale=0.05,shift=8 "
                    + "(degrees, fraction, pixels). Default: the recipe's \"augment\", else none.")
    String augment;

    @Option(names = "--augment-seed", paramLabel = "N", description = "Seed of the augmentation's random views (default: 0).")
    Long augmentSeed;

    @Option(names = "--pad-edges", paramLabel = "PX",
            description = "With --augment the network sees the image padded by PX pixels of its own reflection, so the "
                    + "views' edges fall there (default: the largest view's reach + 8).")
    Integer padEdges;

    @Option(names = "--log-json", paramLabel = "FILE",
            description = "Write one JSON object per iteration (time, each raw and weighted term, total, gradient norm, step).")
    Path logJson;

    /** Sets the builder's augmentation and log; IllegalArgumentException names the option. */
    StylizeSettings.Builder apply(StylizeSettings.Builder b) {
        b.logJson(logJson);
        if (augment == null) {
            if (augmentSeed != null || padEdges != null) {
                throw new IllegalArgumentException((augmentSeed != null ? "--augment-seed" : "--pad-edges")
                        + " needs --augment (a recipe's \"augment\" object takes \"seed\" and \"pad_edges\")");
            }
            return b;
        }
        Augmentation a = Augmentation.parse("--augment", augment);
        if (augmentSeed != null) {
            a = a.withSeed(augmentSeed);
        }
        if (padEdges != null) {
            a = a.withPadEdges(padEdges);
        }
        return b.augmentation(a);
    }
}
