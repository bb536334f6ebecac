//! [`Replay`]: a runtime driver that answers from a script and records the calls it got, for
//! testing the runner's own logic (verdicts, error kinds, timeouts, panics, skips, reports)
//! without a daemon, in the manner of youki's `network/fake.rs`.
//!
//! It never stands in for a daemon where a runtime's behaviour is the question: every answer it
//! gives was written by the test that scripted it. Each call takes the next answer; an answer
//! that does not fit the call panics with both named, so a script that drifts from the runner
//! fails loudly instead of passing by accident.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use super::{
    BoxFuture, ImageRecord, LoadOutcome, Lookup, Runtime, RuntimeError, RuntimeInfo, RuntimeKind,
    TagOutcome,
};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// For `list_images`.
    List(Vec<ImageRecord>),
    /// For `load_image`.
    Load(LoadOutcome),
    /// For `lookup_image` (and so `inspect_image`).
    Lookup(Lookup),
    /// For `tag_image` and `untag_image`.
    Tag(TagOutcome),
    /// Any call: the daemon broke (a protocol error with this text).
    Broken(&'static str),
    /// Any call: the driver does not offer the operation.
    Unsupported,
    /// Any call: never answers.
    Hang,
    /// Any call: panics with this text (a harness bug).
    Panic(&'static str),
}

/// A scripted driver. See the module doc.
pub struct Replay {
    info: RuntimeInfo,
    script: Mutex<VecDeque<Answer>>,
    calls: Mutex<Vec<String>>,
}

impl Replay {
    /// A driver reporting `info`, answering `script` in order.
    pub fn new(info: RuntimeInfo, script: impl IntoIterator<Item = Answer>) -> Replay {
        Replay {
            info,
            script: Mutex::new(script.into_iter().collect()),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls made so far, as `operation argument...`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("not poisoned").clone()
    }

    /// How many answers are left unused.
    pub fn remaining(&self) -> usize {
        self.script.lock().expect("not poisoned").len()
    }

    fn next(&self, call: String) -> Answer {
        self.calls.lock().expect("not poisoned").push(call.clone());
        self.script
            .lock()
            .expect("not poisoned")
            .pop_front()
            .unwrap_or_else(|| panic!("replay: no answer left for {call}"))
    }

    /// Answers `call` with the next answer, through `fit` for the answers only that call takes.
    fn answer<'a, T: Send + 'a>(
        &'a self,
        call: String,
        fit: impl FnOnce(Answer) -> Result<T, Answer> + Send + 'a,
    ) -> BoxFuture<'a, Result<T, RuntimeError>> {
        Box::pin(async move {
            match self.next(call.clone()) {
                Answer::Broken(what) => Err(RuntimeError::Protocol {
                    runtime: "replay",
                    what: what.into(),
                    source: "scripted failure".into(),
                }),
                Answer::Unsupported => Err(super::unsupported(self, &call)),
                Answer::Hang => std::future::pending().await,
                Answer::Panic(why) => panic!("{why}"),
                other => fit(other).map_err(|a| panic!("replay: {call} got the answer {a:?}")),
            }
        })
    }
}

impl Runtime for Replay {
    fn info(&self) -> BoxFuture<'_, Result<RuntimeInfo, RuntimeError>> {
        let info = self.info.clone();
        Box::pin(async move { Ok(info) })
    }

    fn load_image<'a>(
        &'a self,
        archive: &'a Path,
    ) -> BoxFuture<'a, Result<LoadOutcome, RuntimeError>> {
        let name = archive.file_name().unwrap_or_default().to_string_lossy();
        self.answer(format!("load_image {name}"), |a| match a {
            Answer::Load(o) => Ok(o),
            other => Err(other),
        })
    }

    fn list_images(&self) -> BoxFuture<'_, Result<Vec<ImageRecord>, RuntimeError>> {
        self.answer("list_images".into(), |a| match a {
            Answer::List(l) => Ok(l),
            other => Err(other),
        })
    }

    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        self.answer(format!("tag_image {source} {target}"), |a| match a {
            Answer::Tag(o) => Ok(o),
            other => Err(other),
        })
    }

    fn untag_image<'a>(
        &'a self,
        image: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<TagOutcome, RuntimeError>> {
        self.answer(format!("untag_image {image} {name}"), |a| match a {
            Answer::Tag(o) => Ok(o),
            other => Err(other),
        })
    }

    fn lookup_image<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Lookup, RuntimeError>> {
        self.answer(format!("lookup_image {name}"), |a| match a {
            Answer::Lookup(l) => Ok(l),
            other => Err(other),
        })
    }

    fn kind(&self) -> RuntimeKind {
        self.info.runtime
    }
}
