//! Progress on the terminal while a run or a provisioning goes: [`Progress`], driven by the
//! runner's [`Event`]s and by provisioning's [`ProvisionEvent`]s.
//!
//! Two renderings of the same events. **Plain** prints one line per event that matters, the
//! lines `harness run` has always printed (`       scenario::cell starting`, then
//! `[n/total] scenario::cell STATUS (1.2s)`), so logs stay greppable. **Live** (indicatif)
//! keeps an overall bar `[n/total]` with elapsed time and ETA at the bottom, one spinner line
//! per running cell (`scenario::cell`, its current step, its elapsed time) above it, and prints
//! each finished cell above the bars as the very line plain mode prints. Which one is drawn is
//! [`decide`]d once, from the `--progress` choice and the surroundings ([`Surroundings`]): live
//! only on a terminal, outside CI, with a `TERM` other than `dumb`; colour only on a terminal
//! without `NO_COLOR` (<https://no-color.org>).
//!
//! The live display draws through a [`console::Term`] handed to indicatif as a plain
//! [`TermLike`](indicatif::TermLike), not through `ProgressDrawTarget::stderr()`: indicatif
//! hides that target when stderr is not a terminal, and `--progress live` must draw anyway
//! (into `script`, a terminal emulator's log). Anything else that writes to stderr while bars
//! are drawn garbles them, so log lines go through [`log_writer`] (which suspends the bars),
//! and a caught signal calls [`Progress::stop`] before anything is printed.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::results::CellResult;
use crate::run::Event;
use crate::run::provision::ProvisionEvent;

/// What `--progress` asks for (its variants' docs are `--help`'s text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressChoice {
    /// `live` when stderr is a terminal, CI is not set and TERM is not `dumb`; else `plain`.
    #[default]
    Auto,
    /// An overall bar `[n/total]` with elapsed time and ETA, a line per running cell with its
    /// current step (per suite being built, with its bytes), finished ones printed above;
    /// drawn even when stderr is not a terminal.
    Live,
    /// Two lines per cell, for logs: `       scenario::cell starting` and `[n/total]
    /// scenario::cell STATUS (1.2s)` (per suite: when it starts and when it is built).
    Plain,
    /// No progress (warnings, errors and the results still come).
    None,
}

/// What is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Live,
    Plain,
    Quiet,
}

/// What [`decide`] looks at, read once from the process ([`Surroundings::of_stderr`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Surroundings {
    /// Whether stderr is a terminal.
    pub terminal: bool,
    /// Whether `CI` is set ([`crate::run::in_ci`]).
    pub ci: bool,
    /// `TERM`, if set.
    pub term: Option<String>,
    /// Whether `NO_COLOR` is set to something non-empty.
    pub no_color: bool,
}

impl Surroundings {
    /// The surroundings of this process's stderr.
    pub fn of_stderr() -> Surroundings {
        use std::io::IsTerminal;
        Surroundings {
            terminal: std::io::stderr().is_terminal(),
            ci: crate::run::in_ci(),
            term: std::env::var("TERM").ok(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        }
    }
}

/// How progress is shown: the mode, and whether status words are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub mode: ProgressMode,
    pub color: bool,
}

/// The mode `choice` gives in `env`, and whether to colour. `auto` is live only on a terminal,
/// outside CI and with a `TERM` other than `dumb`; colour needs a terminal and no `NO_COLOR`,
/// whatever the mode (as `color_allowed` decides for every other command).
pub fn decide(choice: ProgressChoice, env: &Surroundings) -> Decision {
    let dumb = env.term.as_deref() == Some("dumb");
    let mode = match choice {
        ProgressChoice::Auto if env.terminal && !env.ci && !dumb => ProgressMode::Live,
        ProgressChoice::Auto | ProgressChoice::Plain => ProgressMode::Plain,
        ProgressChoice::Live => ProgressMode::Live,
        ProgressChoice::None => ProgressMode::Quiet,
    };
    Decision {
        mode,
        color: env.terminal && !env.no_color,
    }
}

/// The plain lines of the runner's events: what `harness run` prints without a live display,
/// and what the live display prints above its bars for a finished cell.
#[derive(Debug, Clone)]
pub struct PlainRenderer {
    pub total: usize,
    pub done: usize,
    pub color: bool,
}

impl PlainRenderer {
    pub fn new(total: usize, color: bool) -> PlainRenderer {
        PlainRenderer {
            total,
            done: 0,
            color,
        }
    }

    /// The line `event` prints, if any (a step starting prints none: too many for a log).
    pub fn line(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::CellStarted { scenario, cell } => {
                Some(format!("       {scenario}::{cell} starting"))
            }
            Event::StepStarted { .. } => None,
            Event::CellFinished(r) => {
                self.done += 1;
                Some(self.finished(r))
            }
        }
    }

    fn finished(&self, r: &CellResult) -> String {
        format!(
            "[{}/{}] {} {} ({:.1}s)",
            self.done,
            self.total,
            r.name(),
            super::paint(&r.status, self.color),
            r.duration_ms as f64 / 1000.0
        )
    }
}

/// The plain line of a provisioning event, if any: one when a suite starts (cached, or being
/// built) and one when a build ends, with the bytes it wrote, its time and its rate. The
/// count reads `[suite k/N]`, never `[k/N]` as a finished cell's does, so a log reader
/// waiting for the first cell is not woken by a suite.
pub fn provision_line(event: &ProvisionEvent) -> Option<String> {
    match event {
        ProvisionEvent::Started {
            index,
            count,
            suite,
            cached,
        } => Some(if *cached {
            format!("[suite {index}/{count}] {suite}: cached")
        } else {
            format!(
                "[suite {index}/{count}] {suite}: building with mmdebstrap (a minute or two) ..."
            )
        }),
        ProvisionEvent::Building { .. } => None,
        ProvisionEvent::Finished {
            cached: true,
            ok: true,
            ..
        } => None,
        ProvisionEvent::Finished {
            index,
            count,
            suite,
            ok,
            bytes,
            took,
            ..
        } => {
            let secs = took.as_secs_f64();
            let what = if *ok { "built" } else { "failed" };
            Some(match bytes {
                Some(b) => {
                    let rate = if secs > 0.0 { *b as f64 / secs } else { 0.0 };
                    format!(
                        "[suite {index}/{count}] {suite}: {what}, {} in {secs:.1}s ({}/s)",
                        HumanBytes(*b),
                        HumanBytes(rate as u64)
                    )
                }
                None => format!("[suite {index}/{count}] {suite}: {what} after {secs:.1}s"),
            })
        }
    }
}

/// The live display's bars.
struct Live {
    multi: MultiProgress,
    /// The overall `[n/total]` bar of a run, once [`Progress::begin_cells`] made it.
    overall: Option<ProgressBar>,
    /// The spinner of each running cell, by (scenario, cell id).
    running: HashMap<(String, String), ProgressBar>,
    /// The spinner of the suite being provisioned.
    suite: Option<ProgressBar>,
}

/// Progress of a run or a provisioning on stderr (see the module doc). Shared between the
/// runner's threads (events come from every cell's task) and the signal handler.
pub struct Progress {
    decision: Decision,
    state: Mutex<State>,
}

struct State {
    plain: PlainRenderer,
    live: Option<Live>,
    /// Set by [`Progress::stop`]: nothing is drawn after it.
    stopped: bool,
}

/// How often the spinners move and their elapsed times advance.
const TICK: Duration = Duration::from_millis(120);

/// The live display that log lines must suspend while they are written ([`log_writer`]).
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

impl Progress {
    pub fn new(decision: Decision) -> Progress {
        let live = (decision.mode == ProgressMode::Live).then(|| {
            // A terminal-like target indicatif never hides (see the module doc).
            let target = ProgressDrawTarget::term_like_with_hz(
                Box::new(console::Term::buffered_stderr()),
                10,
            );
            let multi = MultiProgress::with_draw_target(target);
            *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(multi.clone());
            Live {
                multi,
                overall: None,
                running: HashMap::new(),
                suite: None,
            }
        });
        Progress {
            decision,
            state: Mutex::new(State {
                plain: PlainRenderer::new(0, decision.color),
                live,
                stopped: false,
            }),
        }
    }

    pub fn decision(&self) -> Decision {
        self.decision
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts counting a run of `total` scenario x cells (live: draws the overall bar).
    pub fn begin_cells(&self, total: usize) {
        let mut state = self.state();
        state.plain = PlainRenderer::new(total, self.decision.color);
        if state.stopped {
            return;
        }
        if let Some(live) = &mut state.live {
            let bar = if self.decision.color {
                "{bar:30.green/blue}"
            } else {
                "{bar:30}"
            };
            let style = ProgressStyle::with_template(&format!(
                "[{{pos}}/{{len}}] {bar} {{msg}}elapsed {{elapsed}}, eta {{eta}}"
            ))
            .expect("a valid template")
            .progress_chars("=> ");
            let overall = live
                .multi
                .add(ProgressBar::new(total as u64).with_style(style));
            overall.tick();
            live.overall = Some(overall);
        }
    }

    /// Shows one of the runner's events.
    pub fn event(&self, event: &Event) {
        let mut state = self.state();
        if state.stopped {
            return;
        }
        let line = state.plain.line(event);
        let State { live, .. } = &mut *state;
        match (self.decision.mode, live) {
            (ProgressMode::Quiet, _) => {}
            (ProgressMode::Plain, _) | (ProgressMode::Live, None) => {
                if let Some(line) = line {
                    eprintln!("{line}");
                }
            }
            (ProgressMode::Live, Some(live)) => live.event(event, line),
        }
    }

    /// Shows one of provisioning's events.
    pub fn provision_event(&self, event: &ProvisionEvent) {
        let mut state = self.state();
        if state.stopped {
            return;
        }
        let line = provision_line(event);
        match (self.decision.mode, &mut state.live) {
            (ProgressMode::Quiet, _) => {}
            (ProgressMode::Plain, _) | (ProgressMode::Live, None) => {
                if let Some(line) = line {
                    eprintln!("{line}");
                }
            }
            (ProgressMode::Live, Some(live)) => live.provision_event(event, line),
        }
    }

    /// Prints `line` on stderr, above the live display if there is one.
    pub fn println(&self, line: &str) {
        let state = self.state();
        match &state.live {
            Some(live) if !state.stopped => {
                let _ = live.multi.println(line);
            }
            _ => eprintln!("{line}"),
        }
    }

    /// Clears the live display's bars (the finished lines it printed stay), so that whatever
    /// is printed next starts on a clean line. Plain mode prints nothing here.
    pub fn finish(&self) {
        let mut state = self.state();
        if let Some(live) = &mut state.live {
            live.clear();
        }
    }

    /// [`finish`](Self::finish), and nothing is drawn or printed after it: for a signal that
    /// tears the run down while cells still report.
    pub fn stop(&self) {
        let mut state = self.state();
        if let Some(live) = &mut state.live {
            live.clear();
            live.multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        state.stopped = true;
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
        // The bars are gone; a later log line needs no suspending.
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Live {
    fn spinner(&self, prefix: String, msg: &str) -> ProgressBar {
        let style = ProgressStyle::with_template("  {spinner} {prefix} {wide_msg} {elapsed:>4}")
            .expect("a valid template")
            .tick_chars("-\\|/ ");
        let bar = ProgressBar::new_spinner()
            .with_style(style)
            .with_prefix(prefix)
            .with_message(msg.to_string());
        let bar = match &self.overall {
            Some(overall) => self.multi.insert_before(overall, bar),
            None => self.multi.add(bar),
        };
        bar.enable_steady_tick(TICK);
        bar
    }

    fn event(&mut self, event: &Event, line: Option<String>) {
        match event {
            Event::CellStarted { scenario, cell } => {
                let bar = self.spinner(format!("{scenario}::{cell}"), "starting");
                self.running.insert((scenario.clone(), cell.clone()), bar);
            }
            Event::StepStarted {
                scenario,
                cell,
                step,
            } => {
                if let Some(bar) = self.running.get(&(scenario.clone(), cell.clone())) {
                    bar.set_message(step.clone());
                }
            }
            Event::CellFinished(r) => {
                if let Some(bar) = self
                    .running
                    .remove(&(r.scenario.clone(), r.cell.id.clone()))
                {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                if let Some(line) = line {
                    let _ = self.multi.println(line);
                }
                if let Some(overall) = &self.overall {
                    overall.inc(1);
                }
            }
        }
        if let Some(overall) = &self.overall {
            let n = self.running.len();
            overall.set_message(if n == 0 {
                String::new()
            } else {
                format!("{n} running, ")
            });
        }
    }

    fn provision_event(&mut self, event: &ProvisionEvent, line: Option<String>) {
        match event {
            ProvisionEvent::Started {
                index,
                count,
                suite,
                cached: false,
            } => {
                let style = ProgressStyle::with_template(
                    "  {spinner} {prefix}: {binary_bytes} ({binary_bytes_per_sec}), {elapsed}: {wide_msg}",
                )
                .expect("a valid template")
                .tick_chars("-\\|/ ");
                let bar = ProgressBar::no_length()
                    .with_style(style)
                    .with_prefix(format!("[suite {index}/{count}] {suite}"))
                    .with_message("building with mmdebstrap");
                let bar = self.multi.add(bar);
                bar.enable_steady_tick(TICK);
                self.suite = Some(bar);
            }
            ProvisionEvent::Started { .. } => {
                if let Some(line) = line {
                    let _ = self.multi.println(line);
                }
            }
            ProvisionEvent::Building { bytes, phase, .. } => {
                if let Some(bar) = &self.suite {
                    bar.set_position(*bytes);
                    if let Some(phase) = phase {
                        bar.set_message(phase.clone());
                    }
                }
            }
            ProvisionEvent::Finished { .. } => {
                if let Some(bar) = self.suite.take() {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                if let Some(line) = line {
                    let _ = self.multi.println(line);
                }
            }
        }
    }

    fn clear(&mut self) {
        for (_, bar) in self.running.drain() {
            bar.finish_and_clear();
        }
        if let Some(bar) = self.suite.take() {
            bar.finish_and_clear();
        }
        if let Some(bar) = self.overall.take() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

/// A writer for log lines (`tracing_subscriber::fmt().with_writer(log_writer)`): each line
/// goes to stderr whole, with a live display's bars suspended while it is written, so logs and
/// bars do not garble each other.
pub fn log_writer() -> LogWriter {
    LogWriter(Vec::new())
}

/// See [`log_writer`]: buffers one log event and writes it when dropped.
pub struct LogWriter(Vec<u8>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let write = || {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&self.0).and_then(|()| err.flush());
        };
        let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match active {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{ResultsDoc, Status};

    fn env(terminal: bool, ci: bool, term: Option<&str>, no_color: bool) -> Surroundings {
        Surroundings {
            terminal,
            ci,
            term: term.map(String::from),
            no_color,
        }
    }

    /// The mode and colour of each `--progress` choice in each surrounding, as a table.
    #[test]
    fn the_mode_follows_the_flag_the_terminal_ci_term_and_no_color() {
        use ProgressChoice as C;
        use ProgressMode::{Live, Plain, Quiet};
        let xterm = Some("xterm-256color");
        let table = [
            // choice, terminal, CI, TERM, NO_COLOR -> mode, colour
            (C::Auto, true, false, xterm, false, Live, true),
            (C::Auto, true, false, None, false, Live, true),
            (C::Auto, true, false, xterm, true, Live, false),
            (C::Auto, true, true, xterm, false, Plain, true),
            (C::Auto, true, false, Some("dumb"), false, Plain, true),
            (C::Auto, false, false, xterm, false, Plain, false),
            (C::Auto, false, true, xterm, false, Plain, false),
            (C::Plain, true, false, xterm, false, Plain, true),
            (C::Plain, true, false, xterm, true, Plain, false),
            (C::Live, false, true, Some("dumb"), false, Live, false),
            (C::Live, true, true, xterm, false, Live, true),
            (C::None, true, false, xterm, false, Quiet, true),
            (C::None, false, false, xterm, false, Quiet, false),
        ];
        for (choice, terminal, ci, term, no_color, mode, color) in table {
            let got = decide(choice, &env(terminal, ci, term, no_color));
            assert_eq!(
                got,
                Decision { mode, color },
                "{choice:?} terminal={terminal} ci={ci} TERM={term:?} NO_COLOR={no_color}"
            );
        }
        assert_eq!(ProgressChoice::default(), ProgressChoice::Auto);
    }

    fn result(scenario: &str, cell: &str, status: Status, ms: u64) -> CellResult {
        let doc = ResultsDoc::from_json(include_str!("../../tests/data/results/podman3-host.json"))
            .unwrap();
        let mut r = doc.results[0].clone();
        r.scenario = scenario.into();
        r.cell.id = cell.into();
        r.status = status;
        r.duration_ms = ms;
        r
    }

    fn started(scenario: &str, cell: &str) -> Event {
        Event::CellStarted {
            scenario: scenario.into(),
            cell: cell.into(),
        }
    }

    /// The plain lines are the ones `harness run` printed before the live display existed:
    /// logs and tests grep them.
    #[test]
    fn the_plain_renderer_prints_a_line_per_start_and_a_counted_line_per_finish() {
        let events = [
            started("podman3", "docker-host-vfs"),
            started("save", "podman-host-vfs"),
            Event::StepStarted {
                scenario: "podman3".into(),
                cell: "docker-host-vfs".into(),
                step: "load".into(),
            },
            Event::CellFinished(Box::new(result(
                "save",
                "podman-host-vfs",
                Status::Pass,
                1234,
            ))),
            Event::CellFinished(Box::new(result(
                "podman3",
                "docker-host-vfs",
                Status::Skip {
                    reason: "not here".into(),
                },
                49,
            ))),
        ];
        let mut plain = PlainRenderer::new(2, false);
        let lines: Vec<String> = events.iter().filter_map(|e| plain.line(e)).collect();
        assert_eq!(
            lines,
            [
                "       podman3::docker-host-vfs starting",
                "       save::podman-host-vfs starting",
                "[1/2] save::podman-host-vfs pass (1.2s)",
                "[2/2] podman3::docker-host-vfs skip (0.0s)",
            ]
        );
        // Coloured, only the status word is.
        let mut plain = PlainRenderer::new(3, true);
        assert_eq!(
            plain.line(&events[3]).as_deref(),
            Some("[1/3] save::podman-host-vfs \x1b[32mpass\x1b[0m (1.2s)")
        );
    }

    #[test]
    fn provisioning_prints_a_line_per_suite_start_and_build_end() {
        let started = |cached| ProvisionEvent::Started {
            index: 1,
            count: 2,
            suite: "trixie".into(),
            cached,
        };
        let finished = |cached, ok, bytes| ProvisionEvent::Finished {
            index: 2,
            count: 2,
            suite: "sid".into(),
            cached,
            ok,
            bytes,
            took: Duration::from_millis(80_000),
        };
        let lines: Vec<Option<String>> = [
            started(true),
            started(false),
            ProvisionEvent::Building {
                index: 1,
                count: 2,
                suite: "trixie".into(),
                bytes: 1 << 20,
                phase: None,
            },
            finished(true, true, None),
            finished(false, true, Some(800 << 20)),
            finished(false, false, Some(3 << 20)),
            finished(false, false, None),
        ]
        .iter()
        .map(provision_line)
        .collect();
        assert_eq!(
            lines,
            [
                Some("[suite 1/2] trixie: cached".to_string()),
                Some(
                    "[suite 1/2] trixie: building with mmdebstrap (a minute or two) ..."
                        .to_string()
                ),
                None,
                None,
                Some("[suite 2/2] sid: built, 800.00 MiB in 80.0s (10.00 MiB/s)".to_string()),
                Some("[suite 2/2] sid: failed, 3.00 MiB in 80.0s (38.40 KiB/s)".to_string()),
                Some("[suite 2/2] sid: failed after 80.0s".to_string()),
            ]
        );
    }

    /// The live display takes the same events without a terminal to draw on, and a stopped
    /// one takes them without drawing (as during a signal's teardown).
    #[test]
    fn a_quiet_or_stopped_display_takes_every_event() {
        for mode in [ProgressMode::Quiet, ProgressMode::Live] {
            let p = Progress::new(Decision { mode, color: false });
            if mode == ProgressMode::Live {
                p.stop();
            }
            p.begin_cells(1);
            p.event(&started("s", "c"));
            p.event(&Event::CellFinished(Box::new(result(
                "s",
                "c",
                Status::Pass,
                1,
            ))));
            p.provision_event(&ProvisionEvent::Started {
                index: 1,
                count: 1,
                suite: "sid".into(),
                cached: false,
            });
            p.finish();
            // Quiet still counts; a stopped display ignores whatever comes after the stop.
            let counted = usize::from(mode == ProgressMode::Quiet);
            assert_eq!(p.state().plain.done, counted, "{mode:?}");
        }
    }
}
