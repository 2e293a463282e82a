# Vendored from the official Visual Genome driver, https://github.com/ranjaykrishna/visual_genome_python_driver
# at commit b092f5e: get_all_image_data and get_all_region_descriptions (visual_genome/local.py),
# parse_image_data and parse_region_descriptions (visual_genome/utils.py), Image and Region
# (visual_genome/models.py), unchanged but for the module prefixes. MIT licence, reproduced below.
#
# Copyright (c) 2015 Ranjay Krishna
#
#
#
# Permission is hereby granted, free of charge, to any person obtaining a copy
# of this software and associated documentation files (the "Software"), to deal
# in the Software without restriction, including without limitation the rights
# to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
# copies of the Software, and to permit persons to whom the Software is
# furnished to do so, subject to the following conditions:
#
#
#
# The above copyright notice and this permission notice shall be included in
# all copies or substantial portions of the Software.
#
#
#
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
# IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
# FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.  IN NO EVENT SHALL THE
# AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
# LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
# THE SOFTWARE.
# ruff: noqa

import json
import os

class Image:
    """
    Image.
      ID         int
      url        hyperlink string
      width      int
      height     int
    """

    def __init__(self, id, url, width, height, coco_id, flickr_id):
        self.id = id
        self.url = url
        self.width = width
        self.height = height
        self.coco_id = coco_id
        self.flickr_id = flickr_id

    def __str__(self):
        return 'id: %d, coco_id: %d, flickr_id: %d, width: %d, url: %s' \
            % (self.id, -1
                if self.coco_id is None
                else self.coco_id, -1
                if self.flickr_id is None
                else self.flickr_id, self.width, self.url)

    def __repr__(self):
        return str(self)


class Region:
    """
    Region.
      image 		   int
      phrase           string
      x                int
      y                int
      width            int
      height           int
    """

    def __init__(self, id, image, phrase, x, y, width, height):
        self.id = id
        self.image = image
        self.phrase = phrase
        self.x = x
        self.y = y
        self.width = width
        self.height = height

    def __str__(self):
        stat_str = 'id: {0}, x: {1}, y: {2}, width: {3},' \
                   'height: {4}, phrase: {5}, image: {6}'
        return stat_str.format(self.id, self.x, self.y,
                               self.width, self.height, self.phrase,
                               self.image.id)

    def __repr__(self):
        return str(self)


class Graph:
    """
    Graphs contain objects, relationships and attributes
      image            Image
      bboxes           Object array
      relationships    Relationship array
      attributes       Attribute array
    """

    def __init__(self, image, objects, relationships, attributes):
        self.image = image
        self.objects = objects
        self.relationships = relationships
        self.attributes = attributes


def parse_image_data(data):
    """
    Helper to parse the image data for one image.
    """
    img_id = data['id'] if 'id' in data else data['image_id']
    url = data['url']
    width = data['width']
    height = data['height']
    coco_id = data['coco_id']
    flickr_id = data['flickr_id']
    image = Image(img_id, url, width, height, coco_id, flickr_id)
    return image


def parse_region_descriptions(data, image):
    """
    Helper to parse region descriptions.
    """
    regions = []
    if 'region_id' in data[0]:
        region_id_key = 'region_id'
    else:
        region_id_key = 'id'
    for info in data:
        regions.append(Region(info[region_id_key], image, info['phrase'],
                              info['x'], info['y'], info['width'],
                              info['height']))
    return regions


def get_all_image_data(data_dir=None):
    """
    Get Image ids from start_index to end_index.
    """
    if data_dir is None:
        data_dir = "data"
    dataFile = os.path.join(data_dir, 'image_data.json')
    data = json.load(open(dataFile))
    return [parse_image_data(image) for image in data]


def get_all_region_descriptions(data_dir=None):
    """
    Get all region descriptions.
    """
    if data_dir is None:
        data_dir = "data"
    data_file = os.path.join(data_dir, 'region_descriptions.json')
    image_data = get_all_image_data(data_dir)
    image_map = {}
    for d in image_data:
        image_map[d.id] = d
    images = json.load(open(data_file))
    output = []
    for image in images:
        output.append(parse_region_descriptions(
            image['regions'], image_map[image['id']]))
    return output


