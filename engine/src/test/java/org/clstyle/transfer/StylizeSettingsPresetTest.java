package org.clstyle.transfer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.clstyle.loss.Preset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A preset (flag or recipe file) sets the optimiser and the start image; explicit options override it. */
class StylizeSettingsPresetTest {
    static StylizeSettings.Builder base() {
        return StylizeSettings.builder().content(Path.of("c.png")).styles(List.of(Path.of("s.png"))).output(Path.of("o.png"));
    }

    @Test
    void presetImpliesOptimiserAndInit() {
        StylizeSettings none = base().build();
        assertEquals(StylizeSettings.Optimizer.LBFGS, none.optimizer());
        assertEquals("content", none.effectiveInit());
        StylizeSettings gatys = base().preset("gatys").build();
        assertEquals(Preset.GATYS, gatys.preset());
        assertEquals(StylizeSettings.Optimizer.LBFGS, gatys.optimizer());
        assertEquals("noise", gatys.effectiveInit());
        StylizeSettings practical = base().preset("practical").build();
        assertEquals(StylizeSettings.Optimizer.ADAM, practical.optimizer());
        assertEquals("content", practical.effectiveInit());
        StylizeSettings overridden = base().preset("gatys").optimizer("adam").init("content").build();
        assertEquals(StylizeSettings.Optimizer.ADAM, overridden.optimizer());
        assertEquals("content", overridden.effectiveInit());
        StylizeSettings texture = StylizeSettings.builder().styles(List.of(Path.of("s.png"))).output(Path.of("o.png"))
                .preset("tutorial").build();
        assertEquals("noise", texture.effectiveInit(), "texture has no content to start from");
    }

    @Test
    void recipeFilePresetCountsUnlessTheFlagOverridesIt(@TempDir Path dir) throws Exception {
        Path r = dir.resolve("r.json");
        Files.writeString(r, "{\"preset\": \"practical\", \"tv\": {\"weight\": 0}}");
        StylizeSettings s = base().recipe(r).build();
        assertEquals(Preset.PRACTICAL, s.preset());
        assertEquals(StylizeSettings.Optimizer.ADAM, s.optimizer());
        StylizeSettings f = base().recipe(r).preset("gatys").build();
        assertEquals(Preset.GATYS, f.preset());
        assertEquals(StylizeSettings.Optimizer.LBFGS, f.optimizer());
        assertEquals("noise", f.effectiveInit());
    }
}
