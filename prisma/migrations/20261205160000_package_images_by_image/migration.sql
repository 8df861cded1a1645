-- Issue 17: fleet search reads the matching versions of each image on the page index-only, one probe per image
-- (package_images by (image_id, package_version_id)); the index on image_id alone becomes its prefix.
CREATE INDEX "package_images_image_id_package_version_id_idx" ON "package_images"("image_id", "package_version_id");
DROP INDEX "package_images_image_id_idx";
