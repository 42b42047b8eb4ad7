//! Clients of the two services on every request's path, each either over a
//! channel or served in the same process (see [`local`](crate::local)).

mod gateway;
mod provider;

pub use gateway::GatewayHandle;
pub use provider::ProviderHandle;

use std::future::Future;
use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Response, Status};

use crate::replies::Replies;

/// What a server's (`async_trait`) method returns: a boxed future borrowing it.
type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, Status>> + Send + 'a>>;

/// A generated client's call, boxed for awaiting. Its future is about 5 KB; held
/// inline it would make every future that holds a handle's call that large, on
/// both paths. The router's unary call future was 26.5 KB and was moved 3-4 times
/// per request (6-7 % of the all-in-one gateway's CPU was `memmove`); one small
/// allocation on the network path costs less.
fn over_channel<'a, T>(call: impl Future<Output = Result<T, Status>> + Send + 'a) -> Call<'a, T> {
    Box::pin(call)
}

/// A server's streaming call with its stream type erased, so it reads as
/// [`Replies`] like a call over a channel.
fn erased<'a, S, T>(call: Call<'a, Response<S>>) -> Call<'a, Response<Replies<T>>>
where
    S: Stream<Item = Result<T, Status>> + Send + 'static,
    T: 'a,
{
    Box::pin(async move {
        let response = call.await?;
        Ok(response.map(|stream| Replies::local(Box::pin(stream))))
    })
}

#[cfg(test)]
mod tests {
    //! A call made through a local handle must read exactly like the same call
    //! made over a channel: answers, response metadata, statuses with their
    //! details, and streams ended by an OK status or cut by an error.

    use switchyard_proto::gateway::v1::gateway_server::{Gateway, GatewayServer};
    use switchyard_proto::gateway::v1::{
        GetKeyInfoRequest, KeyInfo, ListModelsRequest, ListModelsResponse,
    };
    use switchyard_proto::types::v1::{
        ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, TokenCount,
    };
    use tokio_stream::StreamExt;
    use tonic::{Code, Request, Response, Status};

    use super::GatewayHandle;
    use crate::context::{RequestId, request_id};
    use crate::{LocalStream, in_process, outgoing};

    /// Answers with what it saw: the request id, and whether the request-context
    /// extension was there.
    #[derive(Clone)]
    struct Fake;

    fn seen<T>(request: &Request<T>) -> String {
        let extension = request.extensions().get::<RequestId>().is_some();
        format!("{} {extension}", request_id(request))
    }

    fn chunk(id: &str) -> Result<ChatChunk, Status> {
        Ok(ChatChunk {
            id: id.into(),
            ..ChatChunk::default()
        })
    }

    #[tonic::async_trait]
    impl Gateway for Fake {
        async fn chat(
            &self,
            request: Request<ChatRequest>,
        ) -> Result<Response<ChatResponse>, Status> {
            if request.get_ref().model == "fail" {
                return Err(Status::with_details(
                    Code::ResourceExhausted,
                    "budget spent",
                    tonic::codegen::Bytes::from_static(b"\x08\x01details"),
                ));
            }
            let mut response = Response::new(ChatResponse {
                model: seen(&request),
                ..ChatResponse::default()
            });
            if let Ok(value) = "fake".parse() {
                response
                    .metadata_mut()
                    .insert("x-switchyard-provider", value);
            }
            Ok(response)
        }

        type ChatStreamStream = LocalStream<ChatChunk>;

        async fn chat_stream(
            &self,
            request: Request<ChatRequest>,
        ) -> Result<Response<Self::ChatStreamStream>, Status> {
            let first = chunk(&seen(&request));
            let end = if request.get_ref().model == "break" {
                Status::unavailable("upstream broke")
            } else {
                Status::ok("")
            };
            let items = vec![first, chunk("second"), Err(end), chunk("never read")];
            Ok(Response::new(Box::pin(tokio_stream::iter(items))))
        }

        async fn embed(&self, _: Request<EmbedRequest>) -> Result<Response<EmbedResponse>, Status> {
            Err(Status::unimplemented("embed"))
        }

        async fn list_models(
            &self,
            _: Request<ListModelsRequest>,
        ) -> Result<Response<ListModelsResponse>, Status> {
            Err(Status::unimplemented("list"))
        }

        async fn count_tokens(
            &self,
            _: Request<ChatRequest>,
        ) -> Result<Response<TokenCount>, Status> {
            Err(Status::unimplemented("count"))
        }

        async fn get_key_info(
            &self,
            _: Request<GetKeyInfoRequest>,
        ) -> Result<Response<KeyInfo>, Status> {
            Err(Status::unimplemented("key info"))
        }
    }

    fn both() -> [(&'static str, GatewayHandle); 2] {
        [
            (
                "remote",
                GatewayHandle::remote(in_process(GatewayServer::new(Fake))),
            ),
            ("local", GatewayHandle::local(Fake)),
        ]
    }

    fn chat(model: &str) -> Request<ChatRequest> {
        outgoing(
            ChatRequest {
                model: model.into(),
                ..ChatRequest::default()
            },
            "req-7",
        )
    }

    #[tokio::test]
    async fn a_unary_answer_and_its_metadata_read_the_same() {
        for (how, mut handle) in both() {
            let answer = handle.chat(chat("m")).await;
            let Ok(answer) = answer else {
                panic!("{how}: {answer:?}");
            };
            let provider = answer.metadata().get("x-switchyard-provider").cloned();
            assert_eq!(
                provider.as_ref().and_then(|v| v.to_str().ok()),
                Some("fake"),
                "{how}"
            );
            assert_eq!(answer.into_inner().model, "req-7 true", "{how}");
        }
    }

    #[tokio::test]
    async fn a_status_and_its_details_read_the_same() {
        for (how, mut handle) in both() {
            let Err(status) = handle.chat(chat("fail")).await else {
                panic!("{how}: answered");
            };
            assert_eq!(status.code(), Code::ResourceExhausted, "{how}");
            assert_eq!(status.message(), "budget spent", "{how}");
            assert_eq!(status.details(), b"\x08\x01details", "{how}");
        }
    }

    async fn read_all(handle: &mut GatewayHandle, model: &str) -> (Vec<String>, Option<Code>) {
        let answer = handle.chat_stream(chat(model)).await;
        let Ok(answer) = answer else {
            panic!("{answer:?}");
        };
        let mut replies = answer.into_inner();
        let mut ids = Vec::new();
        let mut error = None;
        // Bounded: the fake sends four items at most.
        for _ in 0..6 {
            match replies.next().await {
                Some(Ok(chunk)) => ids.push(chunk.id),
                Some(Err(status)) => error = Some(status.code()),
                None => break,
            }
        }
        (ids, error)
    }

    #[tokio::test]
    async fn a_stream_ended_by_an_ok_status_reads_the_same() {
        for (how, mut handle) in both() {
            let (ids, error) = read_all(&mut handle, "m").await;
            assert_eq!(ids, ["req-7 true", "second"], "{how}");
            assert_eq!(error, None, "{how}");
        }
    }

    #[tokio::test]
    async fn a_stream_cut_by_an_error_reads_the_same() {
        for (how, mut handle) in both() {
            let (ids, error) = read_all(&mut handle, "break").await;
            assert_eq!(ids, ["req-7 true", "second"], "{how}");
            assert_eq!(error, Some(Code::Unavailable), "{how}");
        }
    }
}
