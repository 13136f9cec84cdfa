# The controller image: karpenter-rs built with the AWS provider, on a distroless runtime,
# running as the non-root user 65532.
#   docker build -t <registry>/karpenter-rs/controller:<tag> .
#   docker push <registry>/karpenter-rs/controller:<tag>
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p karpenter --features aws \
 && cp target/release/karpenter /karpenter

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /karpenter /karpenter
USER 65532:65532
ENTRYPOINT ["/karpenter"]
CMD ["controller"]
