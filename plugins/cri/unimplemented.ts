// The CRI calls berthd answers with UNIMPLEMENTED on purpose. The kubelet
// uses the List calls; the paginated Stream variants are newer and optional,
// and a runtime without them answers UNIMPLEMENTED so the client falls back.
// The gRPC adapter gets these lists; the local services' types forbid them.

export const RUNTIME_SERVICE_UNIMPLEMENTED = [
  'streamPodSandboxes',
  'streamContainers',
  'streamContainerStats',
  'streamPodSandboxStats',
  'streamPodSandboxMetrics',
] as const;
export type RuntimeServiceUnimplemented = (typeof RUNTIME_SERVICE_UNIMPLEMENTED)[number];

export const IMAGE_SERVICE_UNIMPLEMENTED = ['streamImages'] as const;
export type ImageServiceUnimplemented = (typeof IMAGE_SERVICE_UNIMPLEMENTED)[number];
