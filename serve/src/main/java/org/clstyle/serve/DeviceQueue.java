package org.clstyle.serve;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import org.clstyle.weights.VggWeights;

/**
 * One device's jobs: one runs at a time on this queue's worker thread, the others wait in order and are
 * told their position (1 = next) whenever it changes.
 */
final class DeviceQueue implements AutoCloseable {
    private final Deque<Job> waiting = new ArrayDeque<>();
    private final VggWeights weights;
    private final Path weightsFile;
    private final String device;
    private final Thread worker;
    private Job running;
    private boolean closed;

    DeviceQueue(VggWeights weights, Path weightsFile, String device) {
        this.weights = weights;
        this.weightsFile = weightsFile;
        this.device = device;
        this.worker = new Thread(this::work, "clstyle-studio-device-" + (device == null ? "default" : device));
        this.worker.setDaemon(true);
        this.worker.start();
    }

    /** Most jobs waiting at once; more are refused (429) rather than piling up uploads. */
    static final int MAX_WAITING = 32;

    synchronized void submit(Job job) {
        if (closed) {
            throw new ApiError(503, "the studio is shutting down");
        }
        checkRoom();
        waiting.addLast(job);
        job.setPosition(waiting.size());
        notifyAll();
    }

    /** Takes a queued job off the queue; false when it is not waiting (running or done). */
    synchronized boolean cancel(Job job) {
        if (!waiting.remove(job)) {
            return false;
        }
        job.cancelled();
        renumber();
        return true;
    }

    synchronized int waitingCount() { return waiting.size(); }

    /** A 429 when the queue is full. */
    synchronized void checkRoom() {
        if (waiting.size() >= MAX_WAITING) {
            throw new ApiError(429, "the queue is full (" + waiting.size() + " jobs waiting); stop some first");
        }
    }

    synchronized Job running() { return running; }

    private synchronized void renumber() {
        int p = 1;
        for (Job j : waiting) {
            j.setPosition(p++);
        }
    }

    private void work() {
        while (true) {
            Job job;
            synchronized (this) {
                while (waiting.isEmpty() && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) {
                    return;
                }
                job = waiting.pollFirst();
                renumber();
                if (!job.begin()) {
                    continue; // (a job is only ever queued here, so this does not happen)
                }
                running = job;
            }
            try {
                job.run(weights, weightsFile, device);
            } finally {
                synchronized (this) {
                    running = null;
                }
            }
        }
    }

    /** Cancels the waiting jobs, stops the running one and waits (bounded) for its worker to end. */
    @Override
    public void close() {
        Job r;
        synchronized (this) {
            closed = true;
            for (Job j : waiting) {
                j.cancelled();
            }
            waiting.clear();
            r = running;
            notifyAll();
        }
        if (r != null) {
            r.requestStop();
        }
        try {
            worker.join(60_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
