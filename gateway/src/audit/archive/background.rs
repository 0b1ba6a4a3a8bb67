//! The archiver's own thread, at a lower CPU priority (nice 10): compressing,
//! hashing and verifying archives take only what lookups leave of the machine.
//! Reads and removals in the ledger stay on the gateway's threads, so that no lock
//! a request waits for is held by a thread the scheduler holds back.

use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel};

use crate::Error;

type Job = Box<dyn FnOnce() + Send>;

/// How much lower than the gateway's threads the archiver runs.
const NICE: i32 = 10;

static JOBS: Mutex<Option<Sender<Job>>> = Mutex::new(None);

fn start() -> Sender<Job> {
    let (jobs, queue) = channel::<Job>();
    std::thread::Builder::new()
        .name("lienthong-archiver".into())
        .spawn(move || {
            let me = rustix::thread::gettid();
            if let Err(e) = rustix::process::setpriority_process(Some(me), NICE) {
                tracing::warn!(error = %e, "the archiver runs at the gateway's priority");
            }
            for job in queue {
                job();
            }
        })
        .expect("the archiver's thread starts");
    jobs
}

/// Runs `f` on the archiver's thread and waits for it.
pub async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(f());
    });
    {
        let mut jobs = JOBS.lock().expect("archiver jobs");
        let sender = jobs.get_or_insert_with(start);
        if let Err(refused) = sender.send(job) {
            // Its thread is gone (a job panicked): a new one takes the job.
            *sender = start();
            let _ = sender.send(refused.0);
        }
    }
    result
        .await
        .map_err(|_| Error::Audit("the archiver's thread stopped".into()))?
}
