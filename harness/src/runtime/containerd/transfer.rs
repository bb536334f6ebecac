//! Push and pull through containerd's Transfer service (`containerd.services.transfer.v1`,
//! containerd >= 1.7): the daemon itself moves content between its image store and a
//! registry, so nothing runs in the harness's process (unlike `ctr` 1.x's client-side
//! push and pull, which `runtime/ctr.rs` drives).
//!
//! A transfer is one `Transfer(source, destination)` call of two `Any`s, as ctr 2.x sends
//! them (`cmd/ctr/commands/images/push.go` and `pull.go`):
//! - push: source `types.transfer.ImageStore { name, platforms }` (the local image),
//!   destination `types.transfer.OCIRegistry { reference, resolver }`;
//! - pull: the other way round, the image store's `name` naming the record to create, and
//!   `platforms` the platforms to fetch (none: the daemon's default platform).
//!
//! The registry is plain HTTP: `RegistryResolver.default_scheme = "http"`, what ctr's
//! `--plain-http` sets (`registry.WithDefaultScheme("http")`), so no `hosts.toml` of the
//! daemon is involved.
//!
//! containerd 1.6 and older have no Transfer service: the call fails with `Unimplemented`,
//! which is [`RuntimeError::Unsupported`] with containerd's words, never a refusal.

use containerd_client::services::v1::TransferRequest;
use containerd_client::services::v1::transfer_client::TransferClient;
use containerd_client::types::Platform;
use containerd_client::types::transfer::{ImageStore, OciRegistry, RegistryResolver};
use tonic::Code;

use super::ContainerdDriver;
use crate::runtime::{
    ApiRejection, PullOutcome, PullRequest, PushOutcome, PushRequest, RuntimeError, RuntimeKind,
};

/// How one transfer ended: done, refused, or not offered by this containerd.
enum Transferred {
    Done,
    Refused(ApiRejection),
}

/// `os/arch[/variant]` as a containerd platform.
fn platform(p: &str) -> Platform {
    let mut it = p.splitn(3, '/');
    Platform {
        os: it.next().unwrap_or_default().into(),
        architecture: it.next().unwrap_or_default().into(),
        variant: it.next().unwrap_or_default().into(),
        os_version: String::new(),
    }
}

fn registry(reference: &str) -> OciRegistry {
    OciRegistry {
        reference: reference.into(),
        resolver: Some(RegistryResolver {
            default_scheme: "http".into(),
            ..Default::default()
        }),
    }
}

impl ContainerdDriver {
    async fn transfer(
        &self,
        what: &str,
        source: prost_types::Any,
        destination: prost_types::Any,
    ) -> Result<Transferred, RuntimeError> {
        let mut client = TransferClient::new(self.channel.clone());
        let mut req = self.request(TransferRequest {
            source: Some(source),
            destination: Some(destination),
            options: None,
        });
        // A transfer moves whole images: the per-step bound applies, not the per-call one.
        req.set_timeout(crate::runtime::STREAM_TIMEOUT);
        match client.transfer(req).await {
            Ok(_) => Ok(Transferred::Done),
            Err(s) if s.code() == Code::Unimplemented => Err(RuntimeError::Unsupported {
                runtime: RuntimeKind::Containerd,
                operation: format!(
                    "{what} through the Transfer service (containerd < 1.7 has none: {})",
                    s.message()
                ),
            }),
            Err(s) => match super::rejection(&s) {
                Some(r) => Ok(Transferred::Refused(r)),
                None => Err(self.protocol(&format!("transfer ({what})"), s)),
            },
        }
    }

    /// Push through the Transfer service (see the module doc).
    pub(super) async fn transfer_push(
        &self,
        request: &PushRequest,
    ) -> Result<PushOutcome, RuntimeError> {
        if request.compression.is_some() {
            return Err(crate::runtime::unsupported(
                self,
                "push with a compression format",
            ));
        }
        let source = ImageStore {
            name: request.source.clone(),
            platforms: request.platform.iter().map(|p| platform(p)).collect(),
            ..Default::default()
        };
        let destination = registry(&request.destination);
        let sent = self
            .transfer(
                "push",
                containerd_client::to_any(&source),
                containerd_client::to_any(&destination),
            )
            .await?;
        Ok(match sent {
            Transferred::Done => PushOutcome::Pushed {
                digest: None,
                messages: Vec::new(),
            },
            Transferred::Refused(r) => PushOutcome::Error(r),
        })
    }

    /// Pull through the Transfer service into a record named as the reference.
    pub(super) async fn transfer_pull(
        &self,
        request: &PullRequest,
    ) -> Result<PullOutcome, RuntimeError> {
        let source = registry(&request.reference);
        let destination = ImageStore {
            name: request.reference.clone(),
            platforms: request.platform.iter().map(|p| platform(p)).collect(),
            // `ctr pull --all-platforms` (2.x): every platform's content, not only metadata.
            all_metadata: false,
            ..Default::default()
        };
        if request.all_platforms {
            return Err(crate::runtime::unsupported(
                self,
                "pull of all platforms through the Transfer service",
            ));
        }
        let got = self
            .transfer(
                "pull",
                containerd_client::to_any(&source),
                containerd_client::to_any(&destination),
            )
            .await?;
        Ok(match got {
            Transferred::Done => PullOutcome::Pulled {
                messages: Vec::new(),
            },
            Transferred::Refused(r) => PullOutcome::Error(r),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn platforms_split_into_their_parts() {
        let p = super::platform("linux/arm64/v8");
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_str()),
            ("linux", "arm64", "v8")
        );
        let p = super::platform("linux/amd64");
        assert_eq!(p.variant, "");
    }

    #[test]
    fn the_registry_is_plain_http_by_the_resolver_not_by_hosts_config() {
        let r = super::registry("127.0.0.1:5000/a:b");
        let resolver = r.resolver.unwrap();
        assert_eq!(resolver.default_scheme, "http");
        assert_eq!(resolver.host_dir, "");
    }
}
