import { ImagesTable } from "@/components/images-table";

export default function ImagesPage() {
  return <ImagesTable />;
}
