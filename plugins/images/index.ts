export {
  ImageStore,
  IMAGES_KIND,
  MAX_IMAGE_NAME_LENGTH,
  readAllImages,
  readImages,
  validateImageName,
  type Image,
  type ImageStoreOptions,
  type ImageTarget,
  type NewImage,
} from '../../core/metadata/images.js';
export { ImagesLocal, imageAdaptor, imageFromProto, imageToProto } from './service.js';
export { imagesGrpcPlugin, imagesServicePlugin } from './plugin.js';
