// Media types of OCI and Docker schema 2 images, and the questions unpack,
// import and export ask of them. Docker's types are accepted everywhere an OCI
// one is: registries and `docker save` still produce them.

export const MediaType = {
  OCIIndex: 'application/vnd.oci.image.index.v1+json',
  OCIManifest: 'application/vnd.oci.image.manifest.v1+json',
  OCIConfig: 'application/vnd.oci.image.config.v1+json',
  OCILayer: 'application/vnd.oci.image.layer.v1.tar',
  OCILayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OCILayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OCILayerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OCILayerNonDistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OCILayerNonDistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type LayerCompression = 'none' | 'gzip' | 'zstd';

const INDEX_TYPES = new Set<string>([MediaType.OCIIndex, MediaType.DockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MediaType.OCIManifest, MediaType.DockerManifest]);
const CONFIG_TYPES = new Set<string>([MediaType.OCIConfig, MediaType.DockerConfig]);

const LAYER_TYPES = new Map<string, LayerCompression>([
  [MediaType.OCILayer, 'none'],
  [MediaType.OCILayerGzip, 'gzip'],
  [MediaType.OCILayerZstd, 'zstd'],
  [MediaType.OCILayerNonDistributable, 'none'],
  [MediaType.OCILayerNonDistributableGzip, 'gzip'],
  [MediaType.OCILayerNonDistributableZstd, 'zstd'],
  [MediaType.DockerLayer, 'none'],
  [MediaType.DockerLayerGzip, 'gzip'],
  [MediaType.DockerLayerForeignGzip, 'gzip'],
]);

export const isIndexType = (mt: string): boolean => INDEX_TYPES.has(mt);
export const isManifestType = (mt: string): boolean => MANIFEST_TYPES.has(mt);
export const isConfigType = (mt: string): boolean => CONFIG_TYPES.has(mt);
export const isLayerType = (mt: string): boolean => LAYER_TYPES.has(mt);

/** Compression a layer media type declares; undefined for anything not a layer. */
export function layerCompression(mt: string): LayerCompression | undefined {
  return LAYER_TYPES.get(mt);
}

/** Annotations and labels images carry (containerd's and the OCI spec's names). */
export const Annotation = {
  /** OCI layout: the reference (usually a tag) of an index.json entry. */
  RefName: 'org.opencontainers.image.ref.name',
  /** containerd: the full image name of an index.json entry. */
  ImageName: 'io.containerd.image.name',
} as const;

export const Label = {
  /** On a layer blob: the digest of its uncompressed tar (the diffID). */
  Uncompressed: 'containerd.io/uncompressed',
  /** Prefix of labels through which one blob keeps others from collection. */
  GCRefContent: 'containerd.io/gc.ref.content',
  /** Prefix of labels through which a blob keeps a snapshot (`….<snapshotter>`). */
  GCRefSnapshot: 'containerd.io/gc.ref.snapshot',
} as const;
