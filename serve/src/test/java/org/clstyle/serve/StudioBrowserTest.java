package org.clstyle.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.clstyle.image.Images;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The studio as a person uses it, in real headless Chromium (Debian's chromium + chromium-driver) driven
 * by Selenium: load the page, choose the example images, start a small job on the tiny random VGG19, see
 * the preview image change and the chart gain points, stop, download the PNG and check its size, reload
 * the run from the history, and see a bad upload refused in the page. Screenshots go to
 * target/studio-screenshots/. Skipped, with a message, when chromium or chromedriver is not installed
 * (-Dclstyle.chromium=/nowhere shows that).
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class StudioBrowserTest {
    static final Path SHOTS = Path.of("target", "studio-screenshots");

    @TempDir
    static Path tmp;
    static Studio studio;
    static WebDriver driver;
    static Path downloads;
    static String skipped; // why the browser test cannot run here, or null

    static Optional<Path> find(String... names) {
        for (String n : names) {
            Path p = Path.of(n);
            if (p.isAbsolute() && Files.isExecutable(p)) {
                return Optional.of(p);
            }
            for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
                Path q = Path.of(dir, n);
                if (!dir.isEmpty() && Files.isExecutable(q)) {
                    return Optional.of(q);
                }
            }
        }
        return Optional.empty();
    }

    @BeforeAll
    static void start() throws Exception {
        // -Dclstyle.chromium=PATH / -Dclstyle.chromedriver=PATH pick other binaries.
        String cb = System.getProperty("clstyle.chromium"), cd = System.getProperty("clstyle.chromedriver");
        Optional<Path> chromium = cb != null ? find(cb)
                : find("chromium", "/usr/lib/chromium/chromium", "chromium-browser", "google-chrome");
        Optional<Path> chromedriver = cd != null ? find(cd) : find("chromedriver", "/usr/lib/chromium/chromedriver");
        if (chromium.isEmpty() || chromedriver.isEmpty()) {
            skipped = "browser test skipped: " + (chromium.isEmpty() ? "chromium" : "chromedriver")
                    + " not found (on Debian: apt-get install -y chromium chromium-driver)";
            System.err.println(skipped);
            return;
        }
        studio = StudioClient.startTiny();
        downloads = Files.createDirectories(tmp.resolve("downloads"));
        ChromeOptions o = new ChromeOptions();
        o.setBinary(chromium.get().toFile());
        o.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1150", "--no-first-run", "--no-default-browser-check");
        Map<String, Object> prefs = new HashMap<>();
        prefs.put("download.default_directory", downloads.toAbsolutePath().toString());
        prefs.put("download.prompt_for_download", false);
        o.setExperimentalOption("prefs", prefs);
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(chromedriver.get().toFile()).usingAnyFreePort().build();
        driver = new ChromeDriver(service, o);
        Files.createDirectories(SHOTS);
    }

    @AfterAll
    static void stop() {
        if (driver != null) {
            driver.quit();
        }
        if (studio != null) {
            studio.close();
        }
    }

    WebDriverWait waiting(int seconds) {
        WebDriverWait w = new WebDriverWait(driver, Duration.ofSeconds(seconds));
        w.pollingEvery(Duration.ofMillis(100));
        return w;
    }

    WebElement el(String id) {
        return driver.findElement(By.id(id));
    }

    void type(String id, Object value) {
        WebElement e = el(id);
        e.clear();
        e.sendKeys(String.valueOf(value));
    }

    /** Clicks what {@code by} finds, finding it again if the page re-rendered it meanwhile. */
    void click(By by) {
        waiting(10).ignoring(StaleElementReferenceException.class).until(d -> {
            d.findElement(by).click();
            return true;
        });
    }

    int chartPoints() {
        return Integer.parseInt(el("chart").getAttribute("data-points"));
    }

    static void screenshot(WebDriver d, String name) throws Exception {
        Path shot = ((TakesScreenshot) d).getScreenshotAs(OutputType.FILE).toPath();
        Files.copy(shot, SHOTS.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }

    @Test
    void uploadStartWatchStopDownloadReloadAndABadUpload() throws Exception {
        Assumptions.assumeTrue(skipped == null, skipped);
        driver.get(studio.url());
        waiting(30).until(d -> !el("size").getAttribute("value").isEmpty()); // defaults from /api/info
        Path content = StudioClient.EXAMPLES.resolve("chelsea.png").toAbsolutePath().normalize();
        Path coffee = StudioClient.EXAMPLES.resolve("coffee.png").toAbsolutePath().normalize();
        Path brick = StudioClient.EXAMPLES.resolve("brick.png").toAbsolutePath().normalize();
        el("content-file").sendKeys(content.toString());
        el("style-files").sendKeys(coffee + "\n" + brick);
        waiting(10).until(d -> el("style-thumbs").findElements(By.tagName("img")).size() == 2);
        int size = 128;
        type("size", size);
        type("iterations", 400);
        type("previewEvery", 2);
        el("start").click();

        // The preview appears and changes; the chart gains points.
        waiting(180).until(d -> el("preview").isDisplayed() && el("preview").getAttribute("src").contains("preview.png"));
        String first = el("preview").getAttribute("src");
        waiting(120).until(d -> !el("preview").getAttribute("src").equals(first));
        waiting(60).until(d -> chartPoints() >= 4);
        int points = chartPoints();
        waiting(60).until(d -> chartPoints() > points);
        assertTrue(el("iteration").getText().matches("\\d+ / 400"), el("iteration").getText());
        assertEquals("running", el("status").getAttribute("data-state"));
        assertTrue(el("speed").getText().contains("it/s") || el("speed").getText().contains("s/it"), el("speed").getText());
        screenshot(driver, "studio-running.png");
        String running = el("status").getText().replaceAll("^Job (\\S+):.*$", "$1");

        // A second start while the first runs: it waits, and the page says where.
        el("start").click();
        waiting(30).until(d -> "queued".equals(el("status").getAttribute("data-state")));
        assertTrue(el("status").getText().contains("position 1"), el("status").getText());
        waiting(10).until(d -> driver.findElements(By.cssSelector("#queue li")).size() == 2);
        el("stop").click(); // takes the waiting job off the queue
        waiting(30).until(d -> "cancelled".equals(el("status").getAttribute("data-state")));
        By runningChip = By.cssSelector("#queue li[data-job='" + running + "']");
        click(runningChip); // back to the running one
        waiting(30).until(d -> "running".equals(el("status").getAttribute("data-state")));
        int again = chartPoints();
        waiting(60).until(d -> chartPoints() > again);

        // Stop keeps the last image; download it.
        el("stop").click();
        waiting(120).until(d -> "stopped".equals(el("status").getAttribute("data-state")));
        waiting(30).until(d -> el("preview").getAttribute("src").contains("result.png") && el("download").isDisplayed());
        el("download").click();
        Path file = waitForDownload(60);
        byte[] bytes = Files.readAllBytes(file);
        assertEquals(0x89, bytes[0] & 0xff, "a PNG");
        assertEquals('P', bytes[1]);
        BufferedImage img = ImageIO.read(file.toFile());
        assertArrayEquals(Images.scaledSize(451, 300, size), new int[] {img.getWidth(), img.getHeight()},
                "the downloaded image has the size asked for (chelsea.png is 451 x 300)");

        // The run is in the history; reloading it restores its settings.
        By reload = By.cssSelector("#history li[data-job='" + running + "'] button.reload");
        waiting(30).until(d -> !driver.findElements(reload).isEmpty());
        assertEquals(1, driver.findElements(By.cssSelector("#history li")).size(), "the cancelled job never ran");
        type("size", 64);
        click(reload);
        waiting(10).until(d -> el("size").getAttribute("value").equals(String.valueOf(size)));
        assertEquals("400", el("iterations").getAttribute("value"));
        assertFalse(el("reuse").getAttribute("hidden") != null, "the page says it reuses that run's images");
        waiting(30).until(d -> "stopped".equals(el("status").getAttribute("data-state"))
                && el("preview").getAttribute("src").contains("/api/jobs/" + running + "/result.png")
                && chartPoints() > 0);

        // A file that is not an image: one line in the page, no stack trace; the page still works.
        Path bad = Files.writeString(tmp.resolve("notes.png"), "this is not an image");
        el("content-file").sendKeys(bad.toAbsolutePath().normalize().toString());
        el("start").click();
        waiting(30).until(d -> el("error").isDisplayed());
        String error = el("error").getText();
        assertTrue(error.contains("notes.png") && error.contains("not a PNG or JPEG"), error);
        assertFalse(error.contains("Exception") || error.contains("\n"), error);
        screenshot(driver, "studio-bad-upload.png");
        assertEquals(200, new StudioClient(studio.url()).get("/api/info").status());
    }

    Path waitForDownload(int seconds) throws Exception {
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        while (System.nanoTime() < end) {
            try (Stream<Path> s = Files.list(downloads)) {
                List<Path> done = s.filter(p -> p.getFileName().toString().endsWith(".png")).toList();
                if (!done.isEmpty()) {
                    return done.get(0);
                }
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no download in " + downloads + " within " + seconds + " s");
    }
}
