//! Running one test body against both deployment shapes.

/// Turns each `async fn name(shape: Shape)` in scope into two tests,
/// `all_in_one::name` and `split::name`, so every behaviour is checked in-process
/// and over real sockets. Tests run on a two-worker multi-thread runtime; start with
/// `runtime = (…);` to pass other `#[tokio::test]` arguments, e.g.
/// `both_shapes!(runtime = (flavor = "current_thread"); a, b)` when a test records
/// metrics with a thread-local recorder.
#[macro_export]
macro_rules! both_shapes {
    (runtime = $runtime:tt; $($name:ident),* $(,)?) => {
        mod all_in_one {
            $(#[tokio::test $runtime]
            async fn $name() { super::$name($crate::Shape::AllInOne).await })*
        }
        mod split {
            $(#[tokio::test $runtime]
            async fn $name() { super::$name($crate::Shape::Split).await })*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::both_shapes!(
            runtime = (flavor = "multi_thread", worker_threads = 2);
            $($name),*
        );
    };
}
