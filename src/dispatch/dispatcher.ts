/**
 * The dispatcher moves runs through their lifecycle (see the state machine in core/run.ts):
 *
 *   claim (store: queued → starting) ──► build spec ──► executor.start ──► markRunning
 *        ──► attempt.done ──► finishAttempt (final, or queued again after a backoff)
 *
 * It respects a global concurrency limit and each job's own, and claims highest priority first,
 * then oldest. It never polls for new work: the inbox wakes it when runs are committed, a timer
 * wakes it when the earliest backed-off run becomes available, and a finished attempt wakes it
 * because capacity was freed.
 *
 * Store writes are group-committed (one transaction per event-loop turn, see the store), so each
 * resolves a turn or more after it was asked for. The dispatcher keeps those waits off the path
 * that holds a slot, or concurrency / (waits per run) would cap its throughput:
 * - A slot (of the global limit and the job's) is held while the attempt executes: from its claim
 *   to the end of its process. Recording the end (finishAttempt) happens after the slot went to
 *   the next run; drain and cancel still wait for it, and a cancel or timeout that comes after
 *   the end has nothing to stop and changes nothing.
 * - markRunning is written while the attempt runs, not before watching it; the attempt's end is
 *   written after it, so the store sees running → finished in order.
 * - Claims may overlap: a claim reserves the slots it asks for until it returns, and a wake may
 *   send another for the slots left. A job with a limit counts every reserved slot as possibly
 *   its own, so overlapping claims never start more of its runs than it allows.
 *
 * Timeouts and cancellation are the dispatcher's: it asks the attempt to stop and records why.
 *
 * Recovery: at start-up it reconciles runs left `starting`/`running` by a previous process. The
 * executor either adopts the attempt — still running (watched to its end, its timeout counted
 * from its real start, cancel works) or ended while jobwire was down (its true end is recorded)
 * — or says it never started (the run is queued again, the attempt uncounted), or reports it
 * lost (the machine restarted): only then is the run retried if attempts remain, else failed.
 * An attempt's end is released to its executor (attempt.release) only once it is committed, so
 * a crash between the two loses nothing: the next start finds it again.
 */
import type { Logger } from 'pino';
import type { CompiledJob } from '../config/types.js';
import { ConflictError, errorMessage, NotFoundError, PermanentError, RetryableError } from '../core/errors.js';
import { DEFAULT_MAX_OUTPUT_BYTES, FINAL_STATUSES, type RunRecord } from '../core/run.js';
import type { Attempt, AttemptResult, CapturedLog, Executor, StopReason } from '../executors/executor.js';
import { buildRunSpec } from '../matching/run-spec.js';
import type { Message } from '../core/message.js';
import type { RunEffects } from '../events/run-effects.js';
import type { AttemptEnd, Store, TransitionEffects } from '../store/store.js';
import { cancelledRecord, finishedRecord, runningRecord } from '../store/transitions.js';
import { retryDelayMs } from './backoff.js';
import type { Backlog } from './backlog.js';
import type { RunEvent } from './run-feed.js';

export type { RunEvent } from './run-feed.js';

export interface DispatcherOptions {
  readonly store: Store;
  readonly jobs: ReadonlyMap<string, CompiledJob>;
  readonly executors: ReadonlyMap<string, Executor>;
  readonly concurrency: number;
  /** Counts queued runs; the dispatcher keeps it current as runs are claimed and requeued. */
  readonly backlog: Backlog;
  readonly logger: Logger;
  /** jobwire's own environment, for `fromEnv` values. */
  readonly processEnv: NodeJS.ProcessEnv;
  /** High-resolution wall clock in ms; injectable for tests and benchmarks. */
  readonly now?: () => number;
  /** Each transition, after it was committed (the run feed): queued again, started, finished. */
  readonly onEvent?: (event: RunEvent) => void;
  /**
   * What a shutdown does with local attempts still running after the grace: `wait` stops them
   * (their runs fail and are retried at the next start), `leave` leaves them running for the
   * next start to adopt. Default `wait`.
   */
  readonly onShutdown?: 'wait' | 'leave';
  /** `limits.maxOutputSize` (default 64 KiB). */
  readonly maxOutputBytes?: number;
  /** Lifecycle events and chaining, written with each transition (events/run-effects.ts). */
  readonly effects?: RunEffects;
}

interface ActiveAttempt {
  readonly run: RunRecord;
  readonly job: CompiledJob | undefined;
  /** True while it counts against the concurrency limits (until its execution ended). */
  holdsSlot: boolean;
  /** Its execution ended: nothing is left to stop, and how it ended is decided. */
  ended?: boolean;
  attempt?: Attempt;
  /** The run's message, once loaded to start it: its end (events, then:, reply) reads it again. */
  message?: Message;
  /** When the attempt started (ms since the epoch), once it did. */
  startedAt?: number;
  /** Why the dispatcher asked the attempt to stop, if it did. */
  stopReason?: StopReason;
  timer?: NodeJS.Timeout;
  readonly finished: Promise<void>;
  /** Resolves when a shutdown leaves this attempt running for the next jobwire to adopt. */
  readonly detached: Promise<typeof DETACHED>;
  detach(): void;
}

/** What `detached` resolves to; an attempt result never is this value. */
const DETACHED = Symbol('detached');

export class Dispatcher {
  /** Every run this dispatcher is executing or still recording the end of. */
  private readonly active = new Map<string, ActiveAttempt>();
  /** Slots held: attempts executing (see holdsSlot), in all and per job. */
  private executing = 0;
  private readonly executingPerJob = new Map<string, number>();
  /** Slots reserved by claims not yet returned. */
  private reservedByClaims = 0;
  /** A wake found every slot reserved by claims in flight: pump again when one returns. */
  private pumpAgain = false;
  private wakeScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryTimerAt = Infinity;
  private state: 'idle' | 'running' | 'draining' | 'stopped' = 'idle';
  private readonly now: () => number;

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? (() => performance.timeOrigin + performance.now());
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** Attempts executing now (holding a slot). */
  get activeCount(): number {
    return this.executing;
  }

  /** Reconciles runs orphaned by a previous process, then starts dispatching. */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new ConflictError(`dispatcher is ${this.state}`);
    await this.reconcile();
    this.options.backlog.reset((await this.options.store.stats()).queued);
    this.state = 'running';
    this.wake();
  }

  /** The inbox committed `count` new runs. */
  enqueued(count: number): void {
    this.options.backlog.add(count);
    this.wake();
  }

  /** Asks for a pump soon; cheap and safe to call often. */
  wake(): void {
    if (this.wakeScheduled || this.state !== 'running') return;
    this.wakeScheduled = true;
    queueMicrotask(() => {
      this.wakeScheduled = false;
      void this.pump();
    });
  }

  /** Cancels a queued run at once, or stops an active one. Throws for unknown or finished runs. */
  async cancel(runId: string): Promise<RunRecord> {
    const stopped = await this.cancelActive(runId);
    if (stopped !== undefined) return stopped;
    const run = await this.mustGet(runId);
    if (run.status === 'queued') {
      // Its end has the effects of any end (finished event, reply, then:), written with it.
      const reason = 'cancelled by request';
      const now = this.now();
      const ending = cancelledRecord(run, reason, now);
      const effects = await this.endEffects(ending, this.options.jobs.get(run.job), null, now);
      const cancelled = await this.options.store.cancelQueued(runId, reason, now, effects);
      if (cancelled !== undefined) {
        this.committedEnd(effects);
        this.options.backlog.remove(1);
        this.runLogger(run).info({ reason }, 'queued run cancelled');
        this.options.onEvent?.({ type: 'run.finished', run: cancelled, at: now });
        return cancelled;
      }
      // Claimed meanwhile: it is active now, or already over.
      const late = await this.cancelActive(runId);
      if (late !== undefined) return late;
    }
    const current = await this.mustGet(runId);
    throw new ConflictError(`run ${runId} is ${current.status}; only queued or running runs can be cancelled`);
  }

  /** Stops the run if it is executing here; its record once its end is written. */
  private async cancelActive(runId: string): Promise<RunRecord | undefined> {
    const active = this.active.get(runId);
    if (active === undefined) return undefined;
    this.stopAttempt(active, 'cancel');
    await active.finished;
    return this.mustGet(runId);
  }

  /** Queues a finished run again with one more attempt. */
  async retry(runId: string): Promise<RunRecord> {
    await this.mustGet(runId);
    const run = await this.options.store.retryRun(runId, this.now());
    this.options.backlog.add(1);
    this.options.onEvent?.({ type: 'run.queued', run, at: this.now() });
    this.wake();
    return run;
  }

  /** Output of the attempt in flight, if the run is active here. */
  async liveLog(runId: string): Promise<{ attempt: number; log: CapturedLog } | undefined> {
    const active = this.active.get(runId);
    if (active?.attempt === undefined) return undefined;
    return { attempt: active.run.attempts, log: await active.attempt.readLog() };
  }

  /**
   * Stops claiming, waits up to `graceMs` for attempts in flight, then stops the rest; those
   * are recorded as failed by the shutdown and retried on the next start if attempts remain.
   * Attempts of executors whose work outlives jobwire (Kubernetes Jobs) are not waited for or
   * stopped: their runs stay `running` and the next start adopts them (see reconcile).
   */
  async drain(graceMs: number): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'draining';
    this.clearRetryTimer();
    for (const active of this.active.values()) {
      // Not yet started ones are detached by launch once their start is recorded.
      if (active.attempt !== undefined && this.leavesRunning(active.run.executor)) this.leave(active);
    }
    const all = () => Promise.all([...this.active.values()].map((active) => active.finished));
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace'>((resolve) => {
      graceTimer = setTimeout(() => resolve('grace'), graceMs);
    });
    const outcome = await Promise.race([all().then(() => 'done' as const), graceOver]);
    clearTimeout(graceTimer);
    if (outcome === 'grace') {
      for (const active of this.active.values()) {
        if (!this.leavesRunning(active.run.executor)) this.stopAttempt(active, 'shutdown');
      }
      await all();
    }
    this.state = 'stopped';
  }

  /** Whether a shutdown leaves this executor's attempts running for the next start. */
  private leavesRunning(executorName: string): boolean {
    const executor = this.options.executors.get(executorName);
    return executor?.attemptsSurviveRestart === true || (this.options.onShutdown === 'leave' && executor?.canLeaveAttempts === true);
  }

  private leave(active: ActiveAttempt): void {
    active.attempt?.leave?.();
    active.detach();
  }

  private async mustGet(runId: string): Promise<RunRecord> {
    const run = await this.options.store.getRun(runId);
    if (run === undefined) throw new NotFoundError(`no run ${runId}`);
    return run;
  }

  /** Sends one claim for the free slots, if any; see the design notes at the top. */
  private pump(): void {
    if (this.state !== 'running') return;
    const { store, jobs, concurrency } = this.options;
    const free = concurrency - this.executing - this.reservedByClaims;
    if (free <= 0) {
      if (this.reservedByClaims > 0) this.pumpAgain = true;
      return;
    }
    // A job at its limit is excluded; a job with some room left caps the claim so that it can
    // never hand out more runs of it than it may still start — counting every slot reserved by
    // claims in flight as possibly its own.
    const excludeJobs: string[] = [];
    let limit = free;
    for (const job of jobs.values()) {
      if (job.concurrency === undefined) continue;
      const room = job.concurrency - (this.executingPerJob.get(job.name) ?? 0) - this.reservedByClaims;
      if (room <= 0) excludeJobs.push(job.name);
      else limit = Math.min(limit, room);
    }
    const now = this.now();
    this.reservedByClaims += limit;
    this.pumpAgain = false;
    store.claimRuns({ now, limit, excludeJobs }).then(
      async (claimed) => {
        this.reservedByClaims -= limit;
        this.options.backlog.remove(claimed.length);
        for (const run of claimed) this.launch(run);
        if (claimed.length === limit || this.pumpAgain) {
          this.wake();
          return;
        }
        const next = await store.nextAvailableAt();
        if (next !== undefined && next > now) this.scheduleRetryWake(next);
      },
      (error: unknown) => {
        this.reservedByClaims -= limit;
        this.options.logger.error({ err: error }, 'dispatcher could not claim runs; trying again in 1s');
        this.scheduleRetryWake(this.now() + 1000);
      },
    ).catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'dispatcher could not schedule its next wake-up; trying again in 1s');
      this.scheduleRetryWake(this.now() + 1000);
    });
  }

  private scheduleRetryWake(at: number): void {
    if (at >= this.retryTimerAt) return;
    this.clearRetryTimer();
    this.retryTimerAt = at;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retryTimerAt = Infinity;
      this.wake();
    }, Math.max(0, at - this.now()));
    this.retryTimer.unref();
  }

  private clearRetryTimer(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryTimerAt = Infinity;
  }

  private track(run: RunRecord, body: (active: ActiveAttempt) => Promise<void>): void {
    let resolveFinished!: () => void;
    const finished = new Promise<void>((resolve) => {
      resolveFinished = resolve;
    });
    let detach!: () => void;
    const detached = new Promise<typeof DETACHED>((resolve) => {
      detach = () => resolve(DETACHED);
    });
    const active: ActiveAttempt = { run, job: this.options.jobs.get(run.job), holdsSlot: true, finished, detached, detach };
    this.active.set(run.id, active);
    this.executing++;
    this.executingPerJob.set(run.job, (this.executingPerJob.get(run.job) ?? 0) + 1);
    void body(active)
      .catch((error: unknown) => {
        this.options.logger.error({ err: error, runId: run.id, correlationId: run.correlationId }, 'run bookkeeping failed');
      })
      .finally(() => {
        if (active.timer !== undefined) clearTimeout(active.timer);
        this.releaseSlot(active);
        this.active.delete(run.id);
        resolveFinished();
      });
  }

  /** The attempt no longer executes: its slot goes to the next run, even before its end is recorded. */
  private releaseSlot(active: ActiveAttempt): void {
    if (!active.holdsSlot) return;
    active.holdsSlot = false;
    this.executing--;
    this.executingPerJob.set(active.run.job, (this.executingPerJob.get(active.run.job) ?? 1) - 1);
    this.wake();
  }

  private launch(run: RunRecord): void {
    this.track(run, async (active) => {
      const log = this.runLogger(run);
      const job = active.job;
      if (job === undefined) {
        await this.finish(active, { kind: 'error', error: new PermanentError(`job "${run.job}" is no longer defined`), log: EMPTY_LOG });
        return;
      }
      const executor = this.options.executors.get(job.executor);
      if (executor === undefined) {
        await this.finish(active, { kind: 'error', error: new PermanentError(`executor "${job.executor}" is not available`), log: EMPTY_LOG });
        return;
      }
      let attempt: Attempt;
      let message: Message | undefined;
      try {
        message = await this.options.store.getMessage(run.source, run.messageId);
        if (message === undefined) throw new PermanentError(`message ${run.messageId} of run ${run.id} is missing from the store`);
        active.message = message;
        const spec = buildRunSpec(job, message, { runId: run.id, attempt: run.attempts, maxOutputBytes: this.options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES }, this.options.processEnv);
        attempt = await executor.start(spec);
      } catch (error) {
        log.warn({ err: error }, 'run could not start');
        await this.finish(active, { kind: 'error', error: toError(error), log: EMPTY_LOG });
        return;
      }
      active.attempt = attempt;
      const startedAt = this.now();
      active.startedAt = startedAt;
      if (active.stopReason !== undefined) attempt.stop(active.stopReason);
      if (job.timeoutMs !== undefined) {
        active.timer = setTimeout(() => this.stopAttempt(active, 'timeout'), job.timeoutMs);
      }
      // Recorded while the attempt runs (see the top); its end is recorded after this.
      const started = message;
      const recordedRunning = this.recordRunning(run, job, attempt.handle, startedAt, () => Promise.resolve(started)).then(
        (running) => {
          log.info({ handle: attempt.handle, attempt: run.attempts }, 'run started');
          this.options.onEvent?.({ type: 'run.started', run: running, at: startedAt });
        },
        (error: unknown) => {
          log.error({ err: error, handle: attempt.handle }, 'run started, but could not be recorded as running');
        },
      );
      if (this.state === 'draining' && this.leavesRunning(job.executor)) this.leave(active);
      await this.settle(active, attempt, recordedRunning);
    });
  }

  /** starting → running, with the start's events in the same transaction. */
  private async recordRunning(run: RunRecord, job: CompiledJob | undefined, handle: string, startedAt: number, message: () => Promise<Message | undefined>): Promise<RunRecord> {
    const { effects, store } = this.options;
    const running = runningRecord(run, handle, startedAt);
    const transition = effects === undefined ? undefined : await effects.started(running, job, startedAt, message);
    const recorded = await store.markRunning(run.id, handle, startedAt, transition);
    if (transition !== undefined) effects?.committed(transition);
    return recorded;
  }

  /** The effects of a run's final end (events, then:); undefined when it will be retried. */
  private async finalEffects(run: RunRecord, job: CompiledJob | undefined, end: AttemptEnd, known?: Message): Promise<TransitionEffects | undefined> {
    const { effects } = this.options;
    if (effects === undefined || end.retryAt !== undefined) return undefined;
    const final = finishedRecord(run, end, null);
    const log = end.log === null ? null : { text: end.log.text, droppedBytes: end.log.droppedBytes, totalBytes: end.log.totalBytes };
    return this.endEffects(final, job, log, end.finishedAt, known);
  }

  /** The effects of `final`, the record a run's final end is about to write. */
  private async endEffects(final: RunRecord, job: CompiledJob | undefined, log: CapturedLog | null, at: number, known?: Message): Promise<TransitionEffects | undefined> {
    const { effects } = this.options;
    if (effects === undefined) return undefined;
    try {
      const message = known === undefined ? () => this.options.store.getMessage(final.source, final.messageId) : () => Promise.resolve(known);
      return await effects.finished(final, job, log, at, message);
    } catch (error) {
      // Never lose the run's end to its events: record it without them, loudly.
      this.runLogger(final).error({ err: error }, 'could not build the events/then of a finished run; recording its end without them');
      return undefined;
    }
  }

  /** After an end with effects was committed: deliver, and start the chained runs. */
  private committedEnd(effects: TransitionEffects | undefined): void {
    if (effects === undefined) return;
    this.options.effects?.committed(effects);
    const chained = (effects.messages ?? []).reduce((count, chain) => count + chain.runs.length, 0);
    if (chained > 0) this.enqueued(chained);
  }

  /**
   * Records the attempt's end, unless a shutdown left it running for the next jobwire. Either
   * way only after `recordedRunning` (its start, being written; settled whatever the outcome).
   */
  private async settle(active: ActiveAttempt, attempt: Attempt, recordedRunning: Promise<void> = Promise.resolve()): Promise<void> {
    const outcome = await Promise.race([attempt.done, active.detached]);
    if (outcome === DETACHED) {
      await recordedRunning;
      this.runLogger(active.run).info({ handle: attempt.handle }, 'run left running at shutdown; the next jobwire start adopts it');
      return;
    }
    // A cancel or timeout from here on has nothing left to stop; the slot is free.
    active.ended = true;
    if (active.timer !== undefined) clearTimeout(active.timer);
    this.releaseSlot(active);
    await recordedRunning;
    await this.finish(active, outcome);
  }

  private stopAttempt(active: ActiveAttempt, reason: StopReason): void {
    if (active.stopReason !== undefined || active.ended === true) return;
    active.stopReason = reason;
    active.attempt?.stop(reason);
  }

  /** Records how the attempt ended and whether the run is retried. */
  private async finish(active: ActiveAttempt, result: AttemptResult): Promise<void> {
    const { run, job } = active;
    const now = result.endedAt ?? this.now();
    const end = decideEnd(result, active.stopReason, job);
    const retryable =
      (end.status === 'failed' || end.status === 'timed_out') &&
      !(result.kind === 'error' && result.error instanceof PermanentError) &&
      // A runtime that retries by itself (a Kubernetes Job's backoffLimit) has used the retries
      // already; only a start that never reached it (RetryableError) is tried again.
      (this.options.executors.get(run.executor)?.retriesInRuntime !== true ||
        (result.kind === 'error' && result.error instanceof RetryableError));
    const retryAt =
      retryable && job !== undefined && run.attempts < run.maxAttempts
        ? active.stopReason === 'shutdown'
          ? now
          : now + retryDelayMs(job.retries, run.attempts)
        : undefined;
    const attemptEnd: AttemptEnd = {
      ...end,
      finishedAt: now,
      log: { attempt: run.attempts, ...result.log },
      ...(retryAt === undefined ? {} : { retryAt }),
      ...(result.output === undefined ? {} : { output: result.output }),
      ...(result.steps === undefined ? {} : { steps: result.steps }),
    };
    // The started record is `run` plus what markRunning wrote; the end's events need its start.
    const started = active.startedAt === undefined ? run : { ...run, startedAt: active.startedAt };
    const effects = await this.finalEffects(started, job, attemptEnd, active.message);
    const record = await this.options.store.finishAttempt(run.id, effects === undefined ? attemptEnd : { ...attemptEnd, effects });
    this.committedEnd(effects);
    // Committed: what the executor kept so a restart could learn this end may go.
    active.attempt?.release?.();
    const log = this.runLogger(run);
    if (record.status === 'queued') {
      this.options.backlog.add(1);
      log.warn({ reason: end.reason, attempt: run.attempts, retryInMs: Math.round((retryAt ?? now) - now) }, 'run attempt failed; retrying');
      if (retryAt !== undefined) this.scheduleRetryWake(retryAt);
      this.options.onEvent?.({ type: 'run.queued', run: record, at: now });
    } else {
      log.info({ status: record.status, exitCode: record.exitCode, reason: record.reason, attempts: record.attempts }, 'run finished');
    }
    if (FINAL_STATUSES.has(record.status)) this.options.onEvent?.({ type: 'run.finished', run: record, at: now });
  }

  /** Start-up: adopt or settle the runs a previous process left in flight. */
  private async reconcile(): Promise<void> {
    const orphans = await this.options.store.activeRuns();
    for (const run of orphans) {
      const log = this.runLogger(run);
      const executor = this.options.executors.get(run.executor);
      const recovered = executor === undefined
        ? { kind: 'lost' as const, reason: `executor "${run.executor}" is no longer configured` }
        : await executor.recover(run).catch((error: unknown) => ({ kind: 'lost' as const, reason: `recovery failed: ${errorMessage(error)}` }));
      switch (recovered.kind) {
        case 'adopted':
          log.info({ handle: recovered.attempt.handle, attempt: run.attempts }, 'adopted a run left in flight by a previous process');
          this.adopt(run, recovered.attempt);
          continue;
        case 'not-started': {
          await this.options.store.requeueUnstarted(run.id);
          log.info({ reason: recovered.reason }, 'run claimed by a previous process never started; queued again');
          continue;
        }
        case 'lost':
          await this.settleLost(run, executor, recovered.reason);
          continue;
      }
    }
    await Promise.all([...this.options.executors.values()].map((executor) => executor.recovered?.()));
  }

  /** Watches an adopted attempt like one started here: timeout from its real start, cancel, live log. */
  private adopt(run: RunRecord, attempt: Attempt): void {
    this.track(run, async (active) => {
      active.attempt = attempt;
      const startedAt = run.startedAt ?? attempt.startedAt ?? this.now();
      active.startedAt = startedAt;
      // Started, but the start was not recorded before the crash.
      const recordedRunning =
        run.status === 'starting'
          ? this.recordRunning(run, active.job, attempt.handle, startedAt, () => this.options.store.getMessage(run.source, run.messageId)).then(
              () => undefined,
              (error: unknown) => this.runLogger(run).error({ err: error, handle: attempt.handle }, 'adopted run could not be recorded as running'),
            )
          : Promise.resolve();
      const timeoutMs = active.job?.timeoutMs;
      if (timeoutMs !== undefined) {
        active.timer = setTimeout(() => this.stopAttempt(active, 'timeout'), Math.max(0, startedAt + timeoutMs - this.now()));
      }
      await this.settle(active, attempt, recordedRunning);
    });
  }

  private async settleLost(run: RunRecord, executor: Executor | undefined, reason: string): Promise<void> {
    const job = this.options.jobs.get(run.job);
    const retriesInRuntime = executor?.retriesInRuntime === true;
    const retryAt = job !== undefined && !retriesInRuntime && run.attempts < run.maxAttempts ? this.now() : undefined;
    const end: AttemptEnd = {
      status: 'failed',
      exitCode: null,
      reason,
      finishedAt: this.now(),
      log: null,
      ...(retryAt === undefined ? {} : { retryAt }),
    };
    const effects = await this.finalEffects(run, job, end);
    const record = await this.options.store.finishAttempt(run.id, effects === undefined ? end : { ...end, effects });
    this.committedEnd(effects);
    this.options.onEvent?.({ type: record.status === 'queued' ? 'run.queued' : 'run.finished', run: record, at: end.finishedAt });
    this.runLogger(run).warn({ reason, status: record.status }, record.status === 'queued' ? 'orphaned run retried' : 'orphaned run marked failed');
  }

  private runLogger(run: RunRecord): Logger {
    return this.options.logger.child({ correlationId: run.correlationId, runId: run.id, job: run.job });
  }
}

const EMPTY_LOG: CapturedLog = { text: '', droppedBytes: 0, totalBytes: 0 };

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Maps an executor result and the dispatcher's own stop request to the run's new state. */
export function decideEnd(
  result: AttemptResult,
  stopReason: StopReason | undefined,
  job: CompiledJob | undefined,
): Pick<AttemptEnd, 'status' | 'exitCode' | 'reason'> {
  if (stopReason === 'timeout') {
    return { status: 'timed_out', exitCode: null, reason: `timed out after ${formatMs(job?.timeoutMs ?? 0)}` };
  }
  if (stopReason === 'cancel') return { status: 'cancelled', exitCode: null, reason: 'cancelled by request' };
  if (stopReason === 'shutdown') return { status: 'failed', exitCode: null, reason: 'stopped by jobwire shutdown' };
  switch (result.kind) {
    case 'exited':
      return result.exitCode === 0
        ? { status: 'succeeded', exitCode: 0, reason: null }
        : { status: 'failed', exitCode: result.exitCode, reason: `exit code ${result.exitCode}` };
    case 'signaled':
      return { status: 'failed', exitCode: null, reason: `killed by ${result.signal}` };
    case 'stopped':
      return { status: 'failed', exitCode: null, reason: 'stopped' };
    case 'error':
      return { status: 'failed', exitCode: null, reason: result.error.message };
  }
}
